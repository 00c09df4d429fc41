// Package nginx reads an nginx.conf into Fulcrum's configuration model. It
// follows nginx 1.22.1 as Debian builds it: the tokenizer of
// src/core/ngx_conf_file.c (quotes, escapes, "#" comments, include with
// globs), the contexts and argument counts of every directive of the
// modules built in (table.go), and the checks of the http core, proxy,
// upstream, rewrite, referer, limit_req, limit_conn, gzip, map, realip and
// ssl modules for the directives that map to the model.
//
// Diagnostics carry nginx's own wording, as "nginx -t" prints it, with
// the file and line nginx names. A directive fulcrum has no use for (worker
// settings, buffers, temporary paths, MIME types...) is a warning "not
// used by fulcrum: NAME"; one whose absence would change what clients or
// backends see (static files, fastcgi_pass, add_header, auth...) is an
// error "not supported by fulcrum: NAME"; an unknown directive is a
// warning with nginx's 'unknown directive "NAME"'. docs/nginx.md lists
// how each directive maps.
package nginx

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// DebianPrefix is Debian's nginx --prefix, where relative log paths
// resolve when Options.Prefix is empty.
const DebianPrefix = "/usr/share/nginx"

// Options tune how an nginx.conf is read. The zero value reads it as
// "nginx -c FILE" would on this host.
type Options struct {
	// Prefix is nginx's -p: relative access_log paths resolve under it.
	// Empty: DebianPrefix.
	Prefix string
	// ConfPrefix is where relative include, ssl_certificate and
	// proxy_ssl_trusted_certificate paths resolve. Empty: the directory of
	// the file, as nginx takes it from -c.
	ConfPrefix string
	// FS reads included files; nil is the operating system's.
	FS FS
	// Hostname stands for $hostname in server_name; nil asks the
	// operating system.
	Hostname func() (string, error)

	file string
}

// FS is where include finds files. Names are operating system paths.
type FS interface {
	// Glob returns the names matching pattern (path/filepath.Match
	// syntax) in lexical order.
	Glob(pattern string) ([]string, error)
	ReadFile(name string) ([]byte, error)
}

type osFS struct{}

func (osFS) Glob(pattern string) ([]string, error) { return filepath.Glob(pattern) }

func (osFS) ReadFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	}
	data, err := io.ReadAll(io.LimitReader(f, config.MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > config.MaxFileSize {
		return nil, fmt.Errorf("larger than %d MiB", config.MaxFileSize>>20)
	}
	return data, nil
}

func (o *Options) prefix() string {
	if o.ConfPrefix != "" {
		return o.ConfPrefix
	}
	return filepath.Dir(o.file)
}

func (o *Options) logPrefix() string {
	if o.Prefix != "" {
		return o.Prefix
	}
	return DebianPrefix
}

// Load reads the nginx.conf at path and the files it includes.
func Load(path string, opts Options) (*config.Config, config.Diagnostics) {
	data, err := config.ReadFile(path)
	if err != nil {
		return nil, config.Diagnostics{{File: path, Severity: config.Error, Message: err.Error()}}
	}
	return Parse(path, data, opts)
}

// Parse reads an nginx.conf held in data; file names it in diagnostics,
// and its directory is where relative includes are found (unless
// opts.ConfPrefix says otherwise). The model is nil when any diagnostic
// is an error.
func Parse(file string, data []byte, opts Options) (*config.Config, config.Diagnostics) {
	c, ds := parse(file, data, opts)
	if ds.Err() != nil {
		return nil, ds
	}
	return c, ds
}

// parse does Parse's work and returns the model even when it has errors
// (nil only when the file did not parse at all).
func parse(file string, data []byte, opts Options) (*config.Config, config.Diagnostics) {
	opts.file = file
	fsys := opts.FS
	if fsys == nil {
		fsys = osFS{}
	}
	sink := &diagSink{}
	r := &reader{opts: &opts, sink: sink, fsys: fsys}
	tree := r.parseFile(file, data, 0)
	if r.failed {
		// nginx stops at a syntax error; what follows was not read.
		return nil, sink.sorted()
	}
	b := newBuilder(&opts, sink)
	c := b.build(file, tree)
	return c, sink.sorted()
}
