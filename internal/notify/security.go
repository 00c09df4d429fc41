package notify

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// Reasons a script is refused; ScriptError wraps one of them (or ErrUser,
// ErrCommand).
var (
	ErrNotFound      = errors.New("script not found")
	ErrNotExecutable = errors.New("script not executable")
	ErrInsecure      = errors.New("unsafe permissions")
)

// ScriptError says which script was refused and why.
type ScriptError struct {
	Command string // the configured command line
	Path    string // the file or path component at fault, if known
	Reason  string
	Err     error
}

func (e *ScriptError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "script %q: %v", e.Command, e.Err)
	if e.Path != "" {
		fmt.Fprintf(&b, ": %s", e.Path)
	}
	if e.Reason != "" {
		fmt.Fprintf(&b, ": %s", e.Reason)
	}
	return b.String()
}

func (e *ScriptError) Unwrap() error { return e.Err }

// plan is a vetted way to run a script.
type plan struct {
	argv []string // argv[0] is the file to exec
	// shell: argv[0] is keepalived's "<file" readability test, which only a
	// shell can run (notify.c check_script_secure returns SC_SYSTEM for it
	// and system_call_script hands it to system()).
	shell bool
	id    identity
}

// prepare splits, resolves and vets a script the way keepalived does once
// at startup (notify.c check_script_secure, check_security); we do it on
// every run so a script swapped after startup is caught too.
func (n *Notifier) prepare(s *config.Script) (*plan, error) {
	if s == nil {
		return nil, &ScriptError{Err: ErrCommand, Reason: "no script"}
	}
	argv, err := SplitCommand(s.Command)
	if err != nil {
		return nil, &ScriptError{Command: s.Command, Err: err}
	}
	id, err := n.identityFor(s)
	if err != nil {
		return nil, &ScriptError{Command: s.Command, Err: err}
	}
	if isFileTest(argv[0]) {
		return &plan{argv: argv, shell: true, id: id}, nil
	}

	name := argv[0]
	if !strings.Contains(name, "/") {
		found, err := lookPath(name, id)
		if err != nil {
			return nil, &ScriptError{Command: s.Command, Err: err, Reason: "searched $PATH for " + name}
		}
		n.warnOnce("path:"+name+"\x00"+found, "script resolved by $PATH search; configure the full path",
			"script", name, "path", found)
		name = found
	}

	exe, real, err := canonical(name)
	if err != nil {
		return nil, &ScriptError{Command: s.Command, Path: name, Err: ErrNotFound, Reason: err.Error()}
	}
	var st syscall.Stat_t
	if err := syscall.Stat(real, &st); err != nil {
		return nil, &ScriptError{Command: s.Command, Path: real, Err: ErrNotFound, Reason: err.Error()}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, &ScriptError{Command: s.Command, Path: real, Err: ErrNotExecutable, Reason: "not a regular file"}
	}
	if !isExecutable(&st, id.uid, id.gid) {
		return nil, &ScriptError{Command: s.Command, Path: real, Err: ErrNotExecutable,
			Reason: fmt.Sprintf("no execute permission for %v (mode %v)", id, fileMode(st.Mode))}
	}

	if needsProtection(&st, id) {
		paths := []string{exe}
		if real != exe {
			paths = append(paths, real)
		}
		for _, p := range paths {
			v, err := checkPath(p, os.Lstat)
			if err != nil {
				return nil, &ScriptError{Command: s.Command, Path: p, Err: ErrNotFound, Reason: err.Error()}
			}
			if v == nil {
				continue
			}
			reason := fmt.Sprintf("%s, and the script runs as %v", v.reason, id)
			if v.wrongType || n.global.EnableScriptSecurity {
				return nil, &ScriptError{Command: s.Command, Path: v.path, Err: ErrInsecure,
					Reason: reason + "; refusing it (enable_script_security)"}
			}
			n.warnOnce("insecure:"+exe, "SECURITY VIOLATION - unsafe permissions on a script path; running it only because enable_script_security is off",
				"script", s.Command, "path", v.path, "reason", reason)
			break
		}
	}
	if !n.global.EnableScriptSecurity {
		n.warnOnce("violation", "SECURITY VIOLATION - scripts are being executed but enable_script_security is off")
	}
	argv[0] = exe
	return &plan{argv: argv, id: id}, nil
}

// identityFor picks the script's user: its own, else the node default.
func (n *Notifier) identityFor(s *config.Script) (identity, error) {
	if s.User == "" {
		if s.Group != "" {
			return identity{}, fmt.Errorf("%w: group %q given without a user", ErrUser, s.Group)
		}
		if n.defaultIsSelf {
			n.warnOnce("default-user", "default script user "+defaultScriptUser+" does not exist; scripts without a user run as "+n.defaultID.String())
		}
		return n.defaultID, n.defaultErr
	}
	key := s.User + "\x00" + s.Group
	if v, ok := n.ids.Load(key); ok {
		return v.(identity), nil
	}
	id, err := n.res.resolve(s.User, s.Group)
	if err != nil {
		return identity{}, err
	}
	n.ids.Store(key, id)
	return id, nil
}

// isFileTest reports keepalived's "<file" form: '<', optional blanks, '/'
// (notify.c check_script_secure).
func isFileTest(arg0 string) bool {
	rest, ok := strings.CutPrefix(arg0, "<")
	return ok && strings.HasPrefix(strings.TrimLeft(rest, " \t"), "/")
}

// lookPath searches $PATH (or confstr's /bin:/usr/bin when unset) like
// notify.c find_path: the first regular file executable by the script's
// user wins; a match that is not executable is reported as such.
func lookPath(file string, id identity) (string, error) {
	path, ok := os.LookupEnv("PATH")
	if !ok {
		path = "/bin:/usr/bin"
	}
	denied := ""
	for dir := range strings.SplitSeq(path, ":") {
		p := file // an empty entry is the current directory, as in execvp
		if dir != "" {
			p = dir + "/" + file
		}
		var st syscall.Stat_t
		if syscall.Stat(p, &st) != nil {
			continue
		}
		if st.Mode&syscall.S_IFMT == syscall.S_IFREG && isExecutable(&st, id.uid, id.gid) {
			return p, nil
		}
		if denied == "" {
			denied = p
		}
	}
	if denied != "" {
		return "", fmt.Errorf("%w: %s is not executable by %v", ErrNotExecutable, denied, id)
	}
	return "", fmt.Errorf("%w in $PATH", ErrNotFound)
}

// canonical resolves symlinks, /./ and /../ like realpath(3), returning the
// path to exec and the real file. When the real file's name differs from
// the configured one and the configured name, placed in the real file's
// directory, is the same file, that path is exec'd instead: some programs
// act on the name they are called by (notify.c check_script_secure).
func canonical(p string) (exe, real string, err error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", "", err
	}
	real, err = filepath.EvalSymlinks(abs)
	if err != nil {
		return "", "", err
	}
	exe = real
	if filepath.Base(real) != filepath.Base(abs) {
		cand := filepath.Join(filepath.Dir(real), filepath.Base(abs))
		ri, err1 := os.Stat(real)
		ci, err2 := os.Stat(cand)
		if err1 == nil && err2 == nil && os.SameFile(ri, ci) {
			exe = cand
		}
	}
	return exe, real, nil
}

// isExecutable is notify.c is_executable: root needs any x bit; the owner
// needs u+x; a member of the file's group g+x; anyone else o+x.
func isExecutable(st *syscall.Stat_t, uid, gid uint32) bool {
	m := st.Mode
	switch {
	case uid == 0:
		return m&(syscall.S_IXUSR|syscall.S_IXGRP|syscall.S_IXOTH) != 0
	case uid == st.Uid:
		return m&syscall.S_IXUSR != 0
	case gid == st.Gid:
		return m&syscall.S_IXGRP != 0
	default:
		return m&syscall.S_IXOTH != 0
	}
}

// needsProtection is keepalived's trigger for the path check: the script
// runs as root (uid or gid 0), or it is set-uid/set-gid root (notify.c
// check_script_secure). A script run as an unprivileged user can only do
// what that user can, so keepalived does not vet its path.
func needsProtection(st *syscall.Stat_t, id identity) bool {
	m := st.Mode
	return id.uid == 0 || id.gid == 0 ||
		(st.Uid == 0 && m&syscall.S_IXUSR != 0 && m&syscall.S_ISUID != 0) ||
		(st.Gid == 0 && m&syscall.S_IXGRP != 0 && m&syscall.S_ISGID != 0)
}

// violation is the first unsafe component of a script's path.
type violation struct {
	path      string
	reason    string
	wrongType bool // refused even with enable_script_security off
}

// checkPath walks "/", "/a", "/a/b", ... up to p (which must be absolute)
// without following symlinks, and returns the first component a non-root
// user could change (notify.c check_security).
func checkPath(p string, lstat func(string) (fs.FileInfo, error)) (*violation, error) {
	for i := 0; ; {
		j := strings.IndexByte(p[i:], '/')
		last := j < 0
		comp := p
		if !last {
			comp = p[:max(i+j, 1)] // the first component is "/" itself
			i += j + 1
		}
		fi, err := lstat(comp)
		if err != nil {
			return nil, err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil, fmt.Errorf("no stat data for %s", comp)
		}
		if reason, wrongType := unsafeComponent(st, last); reason != "" {
			return &violation{path: comp, reason: reason, wrongType: wrongType}, nil
		}
		if last {
			return nil, nil
		}
	}
}

// unsafeComponent applies check_security's rule to one path component:
// every directory on the way must be a directory, the script a regular file
// or symlink; each must be owned by root; a regular file, or a directory
// without the sticky bit, must not be writable by a non-root group or by
// others. A sticky root-owned directory such as /tmp is accepted because
// nobody else can rename or remove root's entries in it.
func unsafeComponent(st *syscall.Stat_t, last bool) (reason string, wrongType bool) {
	typ := st.Mode & syscall.S_IFMT
	isDir, isReg := typ == syscall.S_IFDIR, typ == syscall.S_IFREG
	switch {
	case !last && !isDir:
		return "not a directory", true
	case last && !isReg && typ != syscall.S_IFLNK:
		return "not a regular file or symlink", true
	case st.Uid != 0:
		return fmt.Sprintf("owned by uid %d, not root", st.Uid), false
	}
	if (isDir && st.Mode&syscall.S_ISVTX == 0) || isReg {
		switch {
		case st.Gid != 0 && st.Mode&syscall.S_IWGRP != 0:
			return fmt.Sprintf("writable by group %d (mode %v)", st.Gid, fileMode(st.Mode)), false
		case st.Mode&syscall.S_IWOTH != 0:
			return fmt.Sprintf("writable by everyone (mode %v)", fileMode(st.Mode)), false
		}
	}
	return "", false
}

// fileMode renders a raw st_mode like ls -l.
func fileMode(m uint32) fs.FileMode {
	fm := fs.FileMode(m & 0o777)
	switch m & syscall.S_IFMT {
	case syscall.S_IFDIR:
		fm |= fs.ModeDir
	case syscall.S_IFLNK:
		fm |= fs.ModeSymlink
	}
	if m&syscall.S_ISUID != 0 {
		fm |= fs.ModeSetuid
	}
	if m&syscall.S_ISGID != 0 {
		fm |= fs.ModeSetgid
	}
	if m&syscall.S_ISVTX != 0 {
		fm |= fs.ModeSticky
	}
	return fm
}
