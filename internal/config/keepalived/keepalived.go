// Package keepalived reads keepalived.conf into Fulcrum's configuration
// model. It follows keepalived 2.2.7 (Debian bookworm): the lexer and
// preprocessor of lib/parser.c, the keywords of keepalived/core/
// global_parser.c, keepalived/vrrp/vrrp_parser.c and keepalived/check/
// check_parser.c and the checkers, keepalived's defaults and its
// precedence for checker timing (check_data.c validate_check_config).
//
// Diagnostics carry keepalived's own wording, as "keepalived -t" prints
// it, with the file and line; fulcrum adds what keepalived is silent
// about but a user needs to know, such as "//" used as a comment or a
// password lost to a one-line authentication block. A problem keepalived
// would refuse to run with, or that leaves the model different from what
// the file says, is an error; the rest are warnings, which Options.Strict
// turns into errors.
package keepalived

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// Options tunes how a keepalived.conf is read. The zero value reads like
// keepalived does on this host.
type Options struct {
	// ConfigID selects "@ID" lines, as keepalived -i does; "" means the
	// host name up to its first dot.
	ConfigID string
	// LookupEnv expands ${_ENV NAME}; nil leaves it as keepalived 2.2.7
	// does (it has no _ENV).
	LookupEnv func(name string) (string, bool)
	// Random picks ${_RANDOM min max}; nil uses math/rand.
	Random func(lo, hi uint64) uint64
	// InterfaceExists, when set, is asked about every interface a VRRP
	// instance names, as keepalived checks them at start-up.
	InterfaceExists func(name string) bool
	// FS reads included files; nil is the operating system's.
	FS FS
	// Strict turns every warning into an error.
	Strict bool
}

// FS is where "include" finds files. Names are operating system paths.
type FS interface {
	// Glob returns the names matching pattern (path/filepath.Match
	// syntax) in lexical order.
	Glob(pattern string) ([]string, error)
	Stat(name string) (fs.FileInfo, error)
	ReadFile(name string) ([]byte, error)
}

type osFS struct{}

func (osFS) Glob(pattern string) ([]string, error) { return filepath.Glob(pattern) }
func (osFS) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }
func (osFS) ReadFile(name string) ([]byte, error)  { return readLimited(name) }

// maxFileSize bounds one file; a real keepalived.conf is a few kilobytes.
const maxFileSize = 16 << 20

func readLimited(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("larger than %d MiB", maxFileSize>>20)
	}
	return data, nil
}

// HostInterfaces reports whether this host has an interface of a name,
// for Options.InterfaceExists: keepalived refuses to start when a VRRP
// instance names an interface the host does not have.
func HostInterfaces(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

func (o *Options) configID() string {
	if o.ConfigID != "" {
		return o.ConfigID
	}
	// keepalived's default config id is the node name up to its first
	// dot (main.c).
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	id, _, _ := strings.Cut(h, ".")
	return id
}

// Load reads the keepalived.conf at path, and the files it includes.
func Load(path string, opts Options) (*config.Config, config.Diagnostics) {
	fsys := opts.FS
	if fsys == nil {
		fsys = osFS{}
	}
	if st, err := fsys.Stat(path); err == nil && (!st.Mode().IsRegular() || st.Mode()&0o111 != 0) {
		// check_conf_file refuses a directory or an executable file.
		return nil, config.Diagnostics{{File: path, Severity: config.Error, Message: fmt.Sprintf("Configuration file '%s' is not a regular non-executable file", path)}}
	}
	data, err := fsys.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, config.Diagnostics{{File: path, Severity: config.Error, Message: fmt.Sprintf("reading config: %v", err)}}
	}
	return Parse(path, data, opts)
}

// Parse reads a keepalived.conf held in data; file names it in
// diagnostics and is where relative includes are looked for. The model is
// nil when any diagnostic is an error.
func Parse(file string, data []byte, opts Options) (*config.Config, config.Diagnostics) {
	c, ds := parse(file, data, opts)
	if ds.Err() != nil {
		return nil, ds
	}
	return c, ds
}

// parse does Parse's work and returns the model even when it has errors.
func parse(file string, data []byte, opts Options) (*config.Config, config.Diagnostics) {
	if opts.FS == nil {
		opts.FS = osFS{}
	}
	sink := &diagSink{}
	lines := lex(file, data, &opts, opts.FS, sink)
	b := newBuilder(file, &opts, sink)
	// keepalived's VRRP and checker processes each parse the whole file
	// and skip the other's blocks by counting braces; when braces are
	// unbalanced they see different blocks, so fulcrum reads the file
	// twice too and takes each part from the process that owns it.
	vr := runPass(lines, passVRRP, sink, &opts)
	ck := runPass(lines, passCheck, sink, &opts)
	c := b.build(vr, ck)
	return c, sink.sorted(opts.Strict)
}
