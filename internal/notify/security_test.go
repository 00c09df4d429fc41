package notify

import (
	"context"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

const (
	dir  = syscall.S_IFDIR
	reg  = syscall.S_IFREG
	lnk  = syscall.S_IFLNK
	vtx  = syscall.S_ISVTX
	suid = syscall.S_ISUID
	sgid = syscall.S_ISGID
)

// The rule of notify.c check_security, one path component at a time.
func TestUnsafeComponent(t *testing.T) {
	tests := []struct {
		name      string
		uid, gid  uint32
		mode      uint32
		last      bool
		unsafe    bool
		wrongType bool
	}{
		{"root dir 0755", 0, 0, dir | 0o755, false, false, false},
		{"root dir, root group writable", 0, 0, dir | 0o775, false, false, false},
		{"root dir, other group writable", 0, 4, dir | 0o775, false, true, false},
		{"root dir world writable", 0, 0, dir | 0o777, false, true, false},
		{"sticky world-writable dir like /tmp", 0, 0, dir | vtx | 0o777, false, false, false},
		{"sticky dir, other group writable", 0, 4, dir | vtx | 0o775, false, false, false},
		{"dir owned by a user", 1000, 0, dir | 0o755, false, true, false},
		{"sticky dir owned by a user", 1000, 0, dir | vtx | 0o755, false, true, false},
		{"root script 0755", 0, 0, reg | 0o755, true, false, false},
		{"root script, other group writable", 0, 4, reg | 0o775, true, true, false},
		{"root script, root group writable", 0, 0, reg | 0o775, true, false, false},
		{"root script world writable", 0, 0, reg | 0o757, true, true, false},
		{"sticky bit does not protect a file", 0, 0, reg | vtx | 0o777, true, true, false},
		{"script owned by a user", 1000, 1000, reg | 0o755, true, true, false},
		{"symlink owned by root (mode ignored)", 0, 0, lnk | 0o777, true, false, false},
		{"symlink owned by a user", 1000, 0, lnk | 0o777, true, true, false},
		{"a file where a directory must be", 0, 0, reg | 0o755, false, true, true},
		{"a directory as the script", 0, 0, dir | 0o755, true, true, true},
		{"a fifo as the script", 0, 0, syscall.S_IFIFO | 0o755, true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &syscall.Stat_t{Uid: tt.uid, Gid: tt.gid, Mode: tt.mode}
			reason, wrongType := unsafeComponent(st, tt.last)
			if (reason != "") != tt.unsafe || wrongType != tt.wrongType {
				t.Errorf("unsafeComponent = %q, wrongType %v; want unsafe %v, wrongType %v", reason, wrongType, tt.unsafe, tt.wrongType)
			}
		})
	}
}

// notify.c is_executable.
func TestIsExecutable(t *testing.T) {
	tests := []struct {
		name     string
		mode     uint32
		fileUID  uint32
		fileGID  uint32
		uid, gid uint32
		want     bool
	}{
		{"root needs any x: other", reg | 0o001, 5, 5, 0, 0, true},
		{"root needs any x: group", reg | 0o010, 5, 5, 0, 0, true},
		{"root without any x", reg | 0o666, 0, 0, 0, 0, false},
		{"owner uses u+x", reg | 0o700, 7, 7, 7, 7, true},
		{"owner ignores o+x", reg | 0o601, 7, 7, 7, 8, false},
		{"group member uses g+x", reg | 0o010, 1, 9, 7, 9, true},
		{"group member ignores o+x", reg | 0o701, 1, 9, 7, 9, false},
		{"other uses o+x", reg | 0o001, 1, 1, 7, 8, true},
		{"other ignores u+x and g+x", reg | 0o770, 1, 1, 7, 8, false},
	}
	for _, tt := range tests {
		st := &syscall.Stat_t{Mode: tt.mode, Uid: tt.fileUID, Gid: tt.fileGID}
		if got := isExecutable(st, tt.uid, tt.gid); got != tt.want {
			t.Errorf("%s: isExecutable = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// notify.c check_script_secure only vets the path of a script that runs
// as root or is set-uid/set-gid root.
func TestNeedsProtection(t *testing.T) {
	tests := []struct {
		name   string
		st     syscall.Stat_t
		id     identity
		expect bool
	}{
		{"runs as root", syscall.Stat_t{Mode: reg | 0o755}, identity{uid: 0, gid: 0}, true},
		{"runs with gid 0", syscall.Stat_t{Mode: reg | 0o755}, identity{uid: 5, gid: 0}, true},
		{"runs as a user", syscall.Stat_t{Mode: reg | 0o777}, identity{uid: 5, gid: 5}, false},
		{"set-uid root", syscall.Stat_t{Mode: reg | suid | 0o755}, identity{uid: 5, gid: 5}, true},
		{"set-uid root without u+x", syscall.Stat_t{Mode: reg | suid | 0o655}, identity{uid: 5, gid: 5}, false},
		{"set-uid to a user", syscall.Stat_t{Uid: 9, Mode: reg | suid | 0o755}, identity{uid: 5, gid: 5}, false},
		{"set-gid root", syscall.Stat_t{Mode: reg | sgid | 0o755}, identity{uid: 5, gid: 5}, true},
	}
	for _, tt := range tests {
		if got := needsProtection(&tt.st, tt.id); got != tt.expect {
			t.Errorf("%s: needsProtection = %v, want %v", tt.name, got, tt.expect)
		}
	}
}

func TestCheckPathWalksEveryComponent(t *testing.T) {
	var seen []string
	lstat := func(p string) (os.FileInfo, error) {
		seen = append(seen, p)
		return os.Lstat("/")
	}
	// "/" is a directory, so the last component fails the type check; the
	// walk must still have visited every prefix in order.
	v, err := checkPath("/etc/keepalived/up.sh", lstat)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/", "/etc", "/etc/keepalived", "/etc/keepalived/up.sh"}
	if !slices.Equal(seen, want) {
		t.Errorf("visited %q, want %q", seen, want)
	}
	if v == nil || !v.wrongType || v.path != "/etc/keepalived/up.sh" {
		t.Errorf("violation = %+v, want wrong type on the script", v)
	}
}

// scriptDirs makes <tmp>/<case>/bin/script.sh, every directory root-owned
// and 0755, and returns the bin directory.
func scriptDirs(t *testing.T) string {
	t.Helper()
	base := t.TempDir()
	chmod(t, base, 0o755)
	chmod(t, filepath.Dir(base), 0o755)
	return mkdir(t, filepath.Join(base, "bin"), 0o755)
}

func TestCheckScriptPermissions(t *testing.T) {
	needRoot(t)
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no nobody account")
	}
	tests := []struct {
		name string
		// setup prepares bin/ and returns the script; wantPath is the
		// component the error must name ("" for the script itself).
		setup    func(t *testing.T, bin string) string
		user     string
		wantErr  error
		wantPath func(bin string) string
	}{
		{name: "safe script", setup: func(t *testing.T, bin string) string {
			return writeScript(t, bin, "ok.sh", "true", 0o755)
		}},
		{name: "world-writable script", wantErr: ErrInsecure, setup: func(t *testing.T, bin string) string {
			return writeScript(t, bin, "ww.sh", "true", 0o757)
		}},
		{name: "world-writable parent directory", wantErr: ErrInsecure,
			wantPath: func(bin string) string { return bin },
			setup: func(t *testing.T, bin string) string {
				p := writeScript(t, bin, "ok.sh", "true", 0o755)
				chmod(t, bin, 0o777)
				return p
			}},
		{name: "sticky world-writable parent is fine", setup: func(t *testing.T, bin string) string {
			p := writeScript(t, bin, "ok.sh", "true", 0o755)
			chmod(t, bin, 0o777|os.ModeSticky)
			return p
		}},
		{name: "writable by a non-root group", wantErr: ErrInsecure, setup: func(t *testing.T, bin string) string {
			p := writeScript(t, bin, "g.sh", "true", 0o775)
			if err := os.Chown(p, 0, 1); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		{name: "script owned by another user", wantErr: ErrInsecure, setup: func(t *testing.T, bin string) string {
			p := writeScript(t, bin, "u.sh", "true", 0o755)
			if err := os.Chown(p, atoi(t, nobody.Uid), 0); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		// keepalived only vets scripts that run with root privileges.
		{name: "world-writable script run as nobody", user: "nobody", setup: func(t *testing.T, bin string) string {
			return writeScript(t, bin, "ww.sh", "true", 0o757)
		}},
		{name: "set-uid root script run as nobody", user: "nobody", wantErr: ErrInsecure, setup: func(t *testing.T, bin string) string {
			p := writeScript(t, bin, "suid.sh", "true", 0o755)
			chmod(t, p, 0o757|os.ModeSetuid)
			return p
		}},
		{name: "not executable", wantErr: ErrNotExecutable, setup: func(t *testing.T, bin string) string {
			return writeScript(t, bin, "rw.sh", "true", 0o644)
		}},
		{name: "not executable by its user", user: "nobody", wantErr: ErrNotExecutable, setup: func(t *testing.T, bin string) string {
			return writeScript(t, bin, "owner.sh", "true", 0o744)
		}},
		{name: "missing", wantErr: ErrNotFound, setup: func(t *testing.T, bin string) string {
			return filepath.Join(bin, "absent.sh")
		}},
		{name: "a directory", wantErr: ErrNotExecutable, setup: func(t *testing.T, bin string) string {
			return mkdir(t, filepath.Join(bin, "d"), 0o755)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, _ := newTestNotifier(t, config.Global{EnableScriptSecurity: true, ScriptUser: "root"})
			bin := scriptDirs(t)
			s := cmd(tt.setup(t, bin), "arg")
			s.User = tt.user
			err := n.CheckScript(s)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("CheckScript = %v, want %v", err, tt.wantErr)
			}
			var se *ScriptError
			if tt.wantPath != nil && (!errors.As(err, &se) || se.Path != tt.wantPath(bin)) {
				t.Errorf("error %v does not name %s", err, tt.wantPath(bin))
			}
		})
	}
}

// Without enable_script_security an unsafe script still runs, with a
// SECURITY VIOLATION in the log.
func TestInsecureScriptRunsWithoutScriptSecurity(t *testing.T) {
	needRoot(t)
	n, logs := newTestNotifier(t, config.Global{ScriptUser: "root"})
	bin := scriptDirs(t)
	marker := filepath.Join(bin, "ran")
	script := writeScript(t, bin, "ww.sh", `touch "$1"`, 0o757)
	if code, err := n.RunScript(context.Background(), cmd(script, marker), nil, 5*time.Second); err != nil || code != 0 {
		t.Fatalf("RunScript = %d, %v", code, err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("script did not run: %v", err)
	}
	log := logs.String()
	if !strings.Contains(log, "SECURITY VIOLATION - unsafe permissions") || !strings.Contains(log, "writable by everyone") {
		t.Errorf("log lacks the unsafe-permissions violation:\n%s", log)
	}
	if !strings.Contains(log, "enable_script_security is off") {
		t.Errorf("log lacks the general violation:\n%s", log)
	}
	// A check that runs every second must not repeat the warning.
	for range 3 {
		_ = n.CheckScript(cmd(script))
	}
	if c := strings.Count(logs.String(), "unsafe permissions"); c != 1 {
		t.Errorf("warning logged %d times, want once", c)
	}
}

func TestCheckScriptPathSearch(t *testing.T) {
	n, logs := newTestNotifier(t, config.Global{})
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	writeScript(t, dir, "found.sh", `echo "$0" > "$1"`, 0o755)
	writeScript(t, dir, "noexec.sh", "true", 0o644)
	t.Setenv("PATH", "/nonexistent:"+dir)

	if code, err := n.RunScript(context.Background(), cmd("found.sh", out), nil, 5*time.Second); err != nil || code != 0 {
		t.Fatalf("RunScript = %d, %v", code, err)
	}
	want := must(filepath.EvalSymlinks(filepath.Join(dir, "found.sh")))
	if got := readLines(t, out); !slices.Equal(got, []string{want}) {
		t.Errorf("$0 = %q, want %q", got, want)
	}
	if !strings.Contains(logs.String(), "$PATH search") {
		t.Errorf("no full-path warning:\n%s", logs)
	}
	if err := n.CheckScript(cmd("noexec.sh")); !errors.Is(err, ErrNotExecutable) {
		t.Errorf("non-executable match: %v, want ErrNotExecutable", err)
	}
	if err := n.CheckScript(cmd("absent-script")); !errors.Is(err, ErrNotFound) {
		t.Errorf("no match: %v, want ErrNotFound", err)
	}
}

// notify.c check_script_secure resolves symlinks but keeps the configured
// file name when it names the same file in the real directory.
func TestScriptSymlinkKeepsName(t *testing.T) {
	n, _ := newTestNotifier(t, config.Global{})
	dir := t.TempDir()
	other := mkdir(t, filepath.Join(dir, "other"), 0o755)
	out := filepath.Join(dir, "out")
	real := writeScript(t, dir, "real.sh", `echo "$0" > "$1"`, 0o755)
	sameDir := filepath.Join(dir, "alias.sh")
	elsewhere := filepath.Join(other, "alias2.sh")
	for _, l := range []string{sameDir, elsewhere} {
		if err := os.Symlink(real, l); err != nil {
			t.Fatal(err)
		}
	}
	realDir := must(filepath.EvalSymlinks(dir))
	for link, want := range map[string]string{
		sameDir:   filepath.Join(realDir, "alias.sh"), // same file under the configured name
		elsewhere: filepath.Join(realDir, "real.sh"),  // no such name next to the target
	} {
		if code, err := n.RunScript(context.Background(), cmd(link, out), nil, 5*time.Second); err != nil || code != 0 {
			t.Fatalf("RunScript(%s) = %d, %v", link, code, err)
		}
		if got := readLines(t, out); !slices.Equal(got, []string{want}) {
			t.Errorf("%s ran as %q, want %q", link, got, want)
		}
	}
}

func TestDefaultScriptUser(t *testing.T) {
	fake := func(uid string) func(string) (*user.User, error) {
		return func(name string) (*user.User, error) {
			if name == defaultScriptUser {
				return &user.User{Username: name, Uid: uid, Gid: uid}, nil
			}
			return nil, user.UnknownUserError(name)
		}
	}
	t.Run("keepalived_script exists", func(t *testing.T) {
		n, _ := newTestNotifier(t, config.Global{}, func(o *Options) { o.LookupUser = fake("4242") })
		if n.defaultID.uid != 4242 || n.defaultID.gid != 4242 || n.defaultErr != nil {
			t.Errorf("default identity %v, %v; want keepalived_script 4242", n.defaultID, n.defaultErr)
		}
	})
	t.Run("absent: run as ourselves with a warning once a script needs it", func(t *testing.T) {
		n, logs := newTestNotifier(t, config.Global{})
		if n.defaultID.uid != uint32(os.Geteuid()) || n.defaultErr != nil {
			t.Errorf("default identity %v, %v; want our own uid", n.defaultID, n.defaultErr)
		}
		if strings.Contains(logs.String(), "does not exist") {
			t.Errorf("warned before any script needed the default user:\n%s", logs)
		}
		if _, err := n.identityFor(&config.Script{Command: "/bin/true"}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logs.String(), "default script user keepalived_script does not exist") {
			t.Errorf("no warning:\n%s", logs)
		}
	})
	t.Run("absent with script security: scripts without a user are refused", func(t *testing.T) {
		n, _ := newTestNotifier(t, config.Global{EnableScriptSecurity: true})
		script := writeScript(t, t.TempDir(), "ok.sh", "true", 0o755)
		if err := n.CheckScript(cmd(script)); !errors.Is(err, ErrUser) {
			t.Errorf("CheckScript = %v, want ErrUser", err)
		}
	})
	t.Run("unknown script_user is an error", func(t *testing.T) {
		_, err := New(Options{Global: config.Global{ScriptUser: "nosuchuser"}, LookupUser: fake("1")})
		if !errors.Is(err, ErrUser) {
			t.Errorf("New = %v, want ErrUser", err)
		}
	})
	t.Run("script_group without script_user", func(t *testing.T) {
		_, err := New(Options{Global: config.Global{ScriptGroup: "wheel"}, LookupUser: fake("1")})
		if !errors.Is(err, ErrUser) {
			t.Errorf("New = %v, want ErrUser", err)
		}
	})
	t.Run("unknown per-script user", func(t *testing.T) {
		n, _ := newTestNotifier(t, config.Global{})
		s := cmd("/bin/true")
		s.User = "nosuchuser-notify-test"
		if err := n.CheckScript(s); !errors.Is(err, ErrUser) {
			t.Errorf("CheckScript = %v, want ErrUser", err)
		}
	})
}

func TestResolveIdentity(t *testing.T) {
	r := resolver{
		lookupUser: func(name string) (*user.User, error) {
			switch name {
			case "svc":
				return &user.User{Username: "svc", Uid: "1001", Gid: "1002"}, nil
			case "bad":
				return &user.User{Username: "bad", Uid: "x", Gid: "1"}, nil
			}
			return nil, user.UnknownUserError(name)
		},
		lookupGroup: func(name string) (*user.Group, error) {
			if name == "ops" {
				return &user.Group{Name: "ops", Gid: "42"}, nil
			}
			return nil, user.UnknownGroupError(name)
		},
	}
	tests := []struct {
		user, group string
		want        identity
		err         bool
	}{
		{"svc", "", identity{name: "svc", uid: 1001, gid: 1002, groups: []uint32{1002}}, false},
		{"svc", "ops", identity{name: "svc:ops", uid: 1001, gid: 42, groups: []uint32{42}}, false},
		{"svc", "nope", identity{}, true},
		{"nope", "", identity{}, true},
		{"bad", "", identity{}, true},
	}
	for _, tt := range tests {
		got, err := r.resolve(tt.user, tt.group)
		if (err != nil) != tt.err || (err == nil && (got.name != tt.want.name || got.uid != tt.want.uid ||
			got.gid != tt.want.gid || !slices.Equal(got.groups, tt.want.groups))) {
			t.Errorf("resolve(%q, %q) = %+v, %v; want %+v (error %v)", tt.user, tt.group, got, err, tt.want, tt.err)
		}
		if err != nil && !errors.Is(err, ErrUser) {
			t.Errorf("resolve(%q, %q): %v does not wrap ErrUser", tt.user, tt.group, err)
		}
	}
}

// A ':' before the group keeps the user's supplementary groups
// (keepalived.conf(5) SCRIPTS).
func TestResolveSupplementaryGroups(t *testing.T) {
	root, err := user.Lookup("root")
	if err != nil {
		t.Skip("no root account")
	}
	all, err := root.GroupIds()
	if err != nil {
		t.Skip("cannot list root's groups")
	}
	r := resolver{lookupUser: user.Lookup, lookupGroup: user.LookupGroup}
	id, err := r.resolve("root", ":")
	if err != nil {
		t.Fatal(err)
	}
	if id.groups[0] != id.gid {
		t.Errorf("groups %v do not start with the primary group %d", id.groups, id.gid)
	}
	for _, g := range all {
		if !slices.Contains(id.groups, uint32(atoi(t, g))) {
			t.Errorf("groups %v miss %s", id.groups, g)
		}
	}
}

func TestCredential(t *testing.T) {
	id := identity{uid: 1000, gid: 1000, groups: []uint32{1000}}
	if c := credential(id, 1000, 1000); c != nil {
		t.Errorf("same unprivileged identity: %+v, want nil", c)
	}
	if c := credential(id, 0, 0); c == nil || c.Uid != 1000 || !slices.Equal(c.Groups, []uint32{1000}) {
		t.Errorf("root switching to 1000: %+v", c)
	}
	// keepalived resets root's supplementary groups too.
	if c := credential(identity{groups: []uint32{0}}, 0, 0); c == nil || !slices.Equal(c.Groups, []uint32{0}) {
		t.Errorf("root as root: %+v, want groups [0]", c)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("not a number: %q", s)
		}
		n = n*10 + int(c-'0')
	}
	return n
}
