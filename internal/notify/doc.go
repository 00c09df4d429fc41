// Package notify runs keepalived-style notification scripts and sends
// e-mail and webhook alerts.
//
// Scripts (notify_up/down, quorum_up/down, notify_master/backup/fault/stop,
// notify, MISC_CHECK, vrrp_script) are split into argv without a shell,
// exactly as keepalived splits them (SplitCommand), and vetted before every
// run the way keepalived vets them at startup (lib/notify.c
// check_script_secure): the file must exist and be executable by the
// script's user, and when it runs as root no component of its path may be
// writable by anyone but root. With enable_script_security an unsafe
// script is refused; without it the run goes ahead with a logged SECURITY
// VIOLATION, as in keepalived. Scripts run as script_user (or their own
// user), in their own process group, and a timed-out group gets SIGTERM
// then SIGKILL.
//
// Notify is asynchronous and never blocks: scripts, mail (through
// global_defs smtp_server, with keepalived's subjects) and the JSON
// webhook each have a bounded queue and worker; Close drains them.
package notify
