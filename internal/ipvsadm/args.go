package ipvsadm

import (
	"strconv"
	"strings"
)

// Args re-serialises the command into ipvsadm arguments that parse back to
// an identical Command. Values are attached as "--long=value" so that no
// value is ever taken for an option or substituted by popt's "!#:+".
func (c *Command) Args() []string {
	switch c.Cmd {
	case CmdHelp:
		return []string{"-h"}
	case CmdVersion:
		return []string{"-v"}
	}
	cmdFlag := map[Cmd]string{
		CmdAdd: "-A", CmdEdit: "-E", CmdDel: "-D", CmdFlush: "-C", CmdList: "-L",
		CmdAddDest: "-a", CmdDelDest: "-d", CmdEditDest: "-e", CmdTimeout: "--set",
		CmdRestore: "-R", CmdSave: "-S", CmdZero: "-Z",
	}
	var a []string
	kv := func(name, v string) { a = append(a, "--"+name+"="+v) }
	num := func(name string, v int64) { kv(name, strconv.FormatInt(v, 10)) }
	switch c.Cmd {
	case CmdStartDaemon, CmdStopDaemon:
		name := map[Cmd]string{CmdStartDaemon: "start-daemon", CmdStopDaemon: "stop-daemon"}[c.Cmd]
		kv(name, map[int]string{StateMaster: "master", StateBackup: "backup"}[c.Daemon.State])
	default:
		a = append(a, cmdFlag[c.Cmd])
	}
	o := c.Options
	s := &c.Service
	if o&OptService != 0 {
		if s.FWMark != 0 {
			num("fwmark-service", int64(s.FWMark))
			if s.AF == AFInet6 {
				a = append(a, "-6")
			}
		} else {
			name := map[int]string{ProtoTCP: "tcp-service", ProtoUDP: "udp-service", ProtoSCTP: "sctp-service"}[s.Protocol]
			kv(name, hostPort(s.AF, s.Addr, s.Port))
		}
	}
	if o&OptScheduler != 0 {
		kv("scheduler", s.Scheduler)
	}
	if o&OptPersistent != 0 {
		num("persistent", int64(s.Timeout))
	}
	if o&OptNetmask != 0 {
		if s.AF == AFInet6 {
			num("netmask", int64(int32(s.Netmask)))
		} else {
			kv("netmask", addr4(s.Netmask).String())
		}
	}
	if o&OptPersistenceEngine != 0 {
		kv("pe", s.PE)
	}
	if o&OptSchedFlags != 0 {
		var fl []string
		for i, n := range []string{"flag-1", "flag-2", "flag-3"} {
			if s.Flags&(SvcSched1<<i) != 0 {
				fl = append(fl, n)
			}
		}
		kv("sched-flags", strings.Join(fl, ","))
	}
	if o&OptOnePacket != 0 {
		a = append(a, "-o")
	}
	d := &c.Dest
	if o&OptServer != 0 {
		kv("real-server", hostPort(d.AF, d.Addr, d.Port))
	}
	if o&OptForward != 0 {
		a = append(a, map[uint32]string{FwdTunnel: "-i", FwdRoute: "-g", FwdMasq: "-m"}[d.ConnFlags])
	}
	if o&OptWeight != 0 {
		num("weight", int64(d.Weight))
	}
	if o&OptUThreshold != 0 {
		num("u-threshold", int64(d.UThreshold))
	}
	if o&OptLThreshold != 0 {
		num("l-threshold", int64(d.LThreshold))
	}
	if o&OptTunType != 0 {
		kv("tun-type", tunNames[d.TunType])
	}
	if o&OptTunPort != 0 {
		num("tun-port", int64(d.TunPort))
	}
	for _, f := range []struct {
		o    Opt
		flag string
	}{
		{OptTunNoCsum, "--tun-nocsum"}, {OptTunCsum, "--tun-csum"}, {OptTunRemCsum, "--tun-remcsum"},
		{OptNumeric, "-n"}, {OptConnection, "-c"}, {OptTimeout, "--timeout"}, {OptDaemon, "--daemon"},
		{OptStats, "--stats"}, {OptRate, "--rate"}, {OptThresholds, "--thresholds"},
		{OptPersistentConn, "--persistent-conn"}, {OptNoSort, "--nosort"}, {OptExact, "--exact"},
		{OptTunInfo, "--tun-info"},
	} {
		if o&f.o != 0 {
			a = append(a, f.flag)
		}
	}
	dm := &c.Daemon
	if o&OptMcast != 0 {
		kv("mcast-interface", dm.McastIfn)
	}
	if o&OptSyncID != 0 {
		num("syncid", int64(dm.SyncID))
	}
	if o&OptMcastGroup != 0 {
		kv("mcast-group", dm.McastGroup.String())
	}
	if o&OptMcastPort != 0 {
		num("mcast-port", int64(dm.McastPort))
	}
	if o&OptMcastTTL != 0 {
		num("mcast-ttl", int64(dm.McastTTL))
	}
	if o&OptSyncMaxlen != 0 {
		num("sync-maxlen", int64(dm.SyncMaxlen))
	}
	if c.Cmd == CmdTimeout {
		for _, t := range c.Timeouts {
			a = append(a, strconv.Itoa(t))
		}
	}
	return a
}

// String is the command line Args gives, for messages.
func (c *Command) String() string { return strings.Join(c.Args(), " ") }
