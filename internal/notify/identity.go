package notify

import (
	"errors"
	"fmt"
	"os/user"
	"strconv"
	"strings"
	"syscall"
)

// ErrUser marks a script user or group that does not resolve.
var ErrUser = errors.New("unknown script user or group")

// defaultScriptUser is the account keepalived runs scripts as when no user
// is configured and the account exists (notify.c get_default_script_user).
const defaultScriptUser = "keepalived_script"

// identity is who a script runs as.
type identity struct {
	name   string // for messages: "user" or "user:group"
	uid    uint32
	gid    uint32
	groups []uint32 // supplementary groups; keepalived sets just {gid}
}

func (id identity) String() string {
	return fmt.Sprintf("%s (uid:gid %d:%d)", id.name, id.uid, id.gid)
}

// resolver turns user and group names into ids; the lookups are injectable
// so tests need no real accounts.
type resolver struct {
	lookupUser  func(string) (*user.User, error)
	lookupGroup func(string) (*user.Group, error)
}

// resolve implements keepalived's `user [[:]group]` (notify.c set_uid_gid;
// keepalived.conf(5) SCRIPTS): with no group the user's primary group is
// used; a leading ':' on the group also keeps the user's supplementary
// groups (":" alone: primary group plus supplementary groups). Otherwise
// the supplementary group list is just the primary group, as keepalived's
// setgroups(1, &gid).
func (r resolver) resolve(name, group string) (identity, error) {
	u, err := r.lookupUser(name)
	if err != nil {
		return identity{}, fmt.Errorf("%w: user %q: %w", ErrUser, name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return identity{}, fmt.Errorf("%w: user %q has a non-numeric uid %q or gid %q", ErrUser, name, u.Uid, u.Gid)
	}
	id := identity{name: name, uid: uint32(uid), gid: uint32(gid)}

	supplementary := strings.HasPrefix(group, ":")
	group = strings.TrimPrefix(group, ":")
	if group != "" {
		g, err := r.lookupGroup(group)
		if err != nil {
			return identity{}, fmt.Errorf("%w: group %q: %w", ErrUser, group, err)
		}
		n, err := strconv.ParseUint(g.Gid, 10, 32)
		if err != nil {
			return identity{}, fmt.Errorf("%w: group %q has a non-numeric gid %q", ErrUser, group, g.Gid)
		}
		id.gid = uint32(n)
		id.name += ":" + group
	}
	id.groups = []uint32{id.gid}
	if supplementary {
		ids, err := u.GroupIds()
		if err != nil {
			return identity{}, fmt.Errorf("%w: supplementary groups of %q: %w", ErrUser, name, err)
		}
		for _, s := range ids {
			n, err := strconv.ParseUint(s, 10, 32)
			if err != nil {
				return identity{}, fmt.Errorf("%w: user %q has a non-numeric group id %q", ErrUser, name, s)
			}
			if uint32(n) != id.gid {
				id.groups = append(id.groups, uint32(n))
			}
		}
	}
	return id, nil
}

// credential is what the child must switch to, or nil when it runs as we
// do. As root we always set it, because keepalived always resets the
// supplementary groups (notify.c set_script_env); unprivileged, we can
// only ask for a switch when one is needed (and the kernel may refuse it).
func credential(id identity, ourUID, ourGID uint32) *syscall.Credential {
	if ourUID != 0 && id.uid == ourUID && id.gid == ourGID && len(id.groups) <= 1 {
		return nil
	}
	return &syscall.Credential{Uid: id.uid, Gid: id.gid, Groups: id.groups}
}
