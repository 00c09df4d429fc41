package keepalived

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Keyword table helpers.

func kw(name string, args int, h func(*cmd)) *keyword {
	return &keyword{name: name, args: args, handle: h}
}

func block(name string, args int, h func(*cmd), end func(*pass), sub ...*keyword) *keyword {
	if sub == nil {
		sub = []*keyword{}
	}
	return &keyword{name: name, args: args, handle: h, end: end, sub: sub}
}

// ign is a keyword keepalived knows and fulcrum has no use for.
func ign(names ...string) []*keyword {
	out := make([]*keyword, len(names))
	for i, n := range names {
		out[i] = kw(n, -1, (*cmd).ignored)
	}
	return out
}

// ignBlock is an ignored keyword that opens a block of keywords.
func ignBlock(names ...string) []*keyword {
	out := make([]*keyword, len(names))
	for i, n := range names {
		out[i] = kw(n, -1, func(c *cmd) {
			c.ignored()
			c.skipBlock = true
		})
		out[i].skips = true
	}
	return out
}

// ignValues is an ignored keyword that opens a block of values.
func ignValues(names ...string) []*keyword {
	out := make([]*keyword, len(names))
	for i, n := range names {
		out[i] = kw(n, -1, func(c *cmd) {
			c.ignored()
			c.valueBlock(func(pos, []string) {})
		})
	}
	return out
}

func join(parts ...[]*keyword) []*keyword {
	var out []*keyword
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func owned(o owner, kws ...*keyword) []*keyword {
	for _, k := range kws {
		k.owner = o
	}
	return kws
}

// roots is the table of top-level keywords, built once.
var roots = buildRoots()

func rootKeywords() []*keyword { return roots }

func buildRoots() []*keyword {
	return join(
		owned(ownGlobal, join(
			[]*keyword{block("global_defs", 0, nil, nil, globalKeywords()...)},
			ign("net_namespace", "net_namespace_ipvs", "namespace_with_ipsets", "use_pid_dir", "instance", "child_wait_time", "linkbeat_use_polling"),
		)...),
		owned(ownBoth, trackFileKeywords()...),
		owned(ownCheck, checkRoots()...),
		owned(ownVRRP, vrrpRoots()...),
		owned(ownBoth, ignBlock("bfd_instance")...),
	)
}

// globalKeywords is global_parser.c init_global_keywords.
func globalKeywords() []*keyword {
	return join([]*keyword{
		kw("router_id", 1, func(c *cmd) {
			if !c.has(1) {
				c.warn("routerid name missing - ignoring")
				return
			}
			c.st().g.routerID = c.args[1]
		}),
		kw("notification_email", 0, func(c *cmd) {
			ws, _ := c.values()
			if len(ws) == 0 {
				c.warn("Warning - empty notification_email block")
				return
			}
			c.st().g.emails = append(c.st().g.emails, ws...)
		}),
		kw("notification_email_from", 1, func(c *cmd) {
			if !c.has(1) {
				c.warn("emailfrom missing - ignoring")
				return
			}
			c.st().g.emailFrom = c.args[1]
		}),
		kw("smtp_server", 2, smtpServer),
		kw("smtp_helo_name", 1, func(c *cmd) {
			if c.has(1) {
				c.st().g.smtpHelo = c.args[1]
			}
		}),
		kw("smtp_connect_timeout", 1, func(c *cmd) {
			s, ok := c.arg(1)
			if !ok {
				return
			}
			// The minimum should be 1, but keepalived allows 0 for
			// compatibility and makes it 1.
			v, ok, tOK := c.readUnsigned(s, 0, math.MaxUint32/timerHz, true)
			if !tOK {
				c.warn("smtp_connect_timeout '%s' must be in [0, %d] - ignoring", s, math.MaxUint32/timerHz)
			}
			if !ok {
				return
			}
			if v == 0 {
				c.warn("smtp_conect_timeout must be greater than 0, setting to 1")
				v = 1
			}
			c.st().g.smtpTimeout = time.Duration(v) * time.Second
		}),
		kw("smtp_alert", 1, func(c *cmd) {
			if v, ok := c.flag("Invalid value '%s' for global smtp_alert specified"); ok {
				c.st().g.smtpAlert = b2i(v)
			}
		}),
		kw("smtp_alert_vrrp", 1, func(c *cmd) {
			if v, ok := c.flag("Invalid value '%s' for global smtp_alert_vrrp specified"); ok {
				c.st().g.smtpAlertVRRP = b2i(v)
			}
		}),
		kw("smtp_alert_checker", 1, func(c *cmd) {
			if v, ok := c.flag("Invalid value '%s' for global smtp_alert_checker specified"); ok {
				c.st().g.smtpAlertChecker = b2i(v)
			}
		}),
		kw("enable_script_security", 0, func(c *cmd) {
			c.st().g.scriptSecurity = true
			c.st().g.scriptSecAt = c.at
		}),
		kw("script_user", 2, func(c *cmd) {
			if !c.has(1) {
				c.warn("No script username specified")
				return
			}
			c.st().g.scriptUser = c.args[1]
			if c.has(2) {
				c.st().g.scriptGroup = c.args[2]
			}
		}),
		kw("vrrp_version", 1, func(c *cmd) {
			s, ok := c.arg(1)
			if !ok {
				return
			}
			v, ok, tOK := c.readInt(s, 2, 3, true)
			if !tOK {
				c.warn("VRRP Error: Version must be either 2 or 3")
			}
			if ok {
				c.st().g.vrrpVersion = int(v)
			}
		}),
		kw("vrrp_garp_master_delay", 1, func(c *cmd) {
			if d, ok := c.seconds(1, "vrrp_garp_master_delay '%s' invalid - ignoring"); ok {
				c.st().g.garpDelay = d
			}
		}),
		kw("vrrp_garp_master_repeat", 1, func(c *cmd) {
			if n, ok := c.repeats(1, "vrrp_garp_master_repeat '%s' invalid - ignoring", "vrrp_garp_master_repeat must be greater than 0, setting to 1"); ok {
				c.st().g.garpRep = n
			}
		}),
		kw("vrrp_garp_master_refresh", 1, func(c *cmd) {
			s, ok := c.arg(1)
			if !ok {
				return
			}
			v, ok, tOK := c.readUnsigned(s, 0, math.MaxUint32, true)
			if !tOK {
				c.warn("Invalid vrrp_garp_master_refresh '%s' - ignoring", s)
			}
			if !ok {
				v = 0
			}
			c.st().g.garpRefresh = time.Duration(v) * time.Second
		}),
		kw("vrrp_garp_master_refresh_repeat", 1, func(c *cmd) {
			if n, ok := c.repeats(1, "vrrp_garp_master_refresh_repeat '%s' invalid - ignoring", "vrrp_garp_master_refresh_repeat must be greater than 0, setting to 1"); ok {
				c.st().g.garpRefreshRep = n
			}
		}),
		kw("vrrp_strict", 0, func(c *cmd) { c.st().g.vrrpStrict = true }),
		kw("lvs_timeouts", 6, lvsTimeouts),
		// Debian's keepalived is built with nftables only.
		kw("vrrp_iptables", -1, func(c *cmd) {
			c.warn("iptables not supported, using nftables instead. Please replace 'vrrp_iptables and 'vrrp_ipsets' with 'nftables' config option")
			c.ignored()
		}),
	},
		ign("process_names", "process_name", "vrrp_process_name", "checker_process_name", "lvs_process_name", "bfd_process_name",
			"startup_script", "startup_script_timeout", "shutdown_script", "shutdown_script_timeout",
			"max_auto_priority", "min_auto_priority_delay", "checker_log_all_failures",
			"dynamic_interfaces", "no_email_faults", "default_interface", "disable_local_igmp",
			"lvs_flush", "lvs_flush_on_stop", "lvs_flush_onstop", "lvs_sync_daemon",
			"vrrp_mcast_group4", "vrrp_mcast_group6", "vrrp_garp_lower_prio_delay", "vrrp_garp_lower_prio_repeat",
			"vrrp_garp_interval", "vrrp_gna_interval", "vrrp_min_garp", "vrrp_garp_extra_if", "vrrp_vmac_garp_intvl",
			"vrrp_lower_prio_no_advert", "vrrp_higher_prio_send_advert",
			"nftables", "nftables_priority", "nftables_ifindex", "nftables_ipvs", "nftables_ipvs_priority",
			"nftables_ipvs_start_fwmark", "nftables_counters", "vrrp_check_unicast_src", "vrrp_skip_check_adv_addr",
			"vrrp_priority", "vrrp_no_swap", "vrrp_rt_priority", "vrrp_cpu_affinity", "vrrp_rlimit_rttime", "vrrp_rlimit_rtime",
			"notify_fifo", "notify_fifo_script", "vrrp_notify_fifo", "vrrp_notify_fifo_script", "vrrp_notify_priority_changes",
			"lvs_notify_fifo", "lvs_notify_fifo_script", "checker_priority", "checker_no_swap", "checker_rt_priority",
			"checker_cpu_affinity", "checker_rlimit_rttime", "checker_rlimit_rtime", "bfd_priority", "bfd_no_swap",
			"bfd_rt_priority", "bfd_cpu_affinity", "bfd_rlimit_rttime", "bfd_rlimit_rtime", "snmp_socket", "enable_traps",
			"enable_snmp_vrrp", "enable_snmp_keepalived", "enable_snmp_rfc", "enable_snmp_rfcv2", "enable_snmp_rfcv3",
			"enable_snmp_checker", "enable_dbus", "dbus_service_name", "vrrp_netlink_cmd_rcv_bufs",
			"vrrp_netlink_cmd_rcv_bufs_force", "vrrp_netlink_monitor_rcv_bufs", "vrrp_netlink_monitor_rcv_bufs_force",
			"process_monitor_rcv_bufs", "process_monitor_rcv_bufs_force", "lvs_netlink_cmd_rcv_bufs",
			"lvs_netlink_cmd_rcv_bufs_force", "lvs_netlink_monitor_rcv_bufs", "lvs_netlink_monitor_rcv_bufs_force",
			"rs_init_notifies", "no_checker_emails", "vrrp_rx_bufs_policy", "vrrp_rx_bufs_multiplier", "vrrp_startup_delay",
			"log_unknown_vrids", "vmac_prefix", "vmac_addr_prefix", "umask", "random_seed", "reload_check_config",
			"reload_time_file", "reload_repeat", "reload_file", "include_check", "tmp_config_directory", "data_use_instance"),
	)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// seconds reads a whole number of seconds in [0, UINT_MAX/TIMER_HZ] (the
// garp delays).
func (c *cmd) seconds(i int, bad string) (time.Duration, bool) {
	s, ok := c.arg(i)
	if !ok {
		return 0, false
	}
	v, ok, tOK := c.readUnsigned(s, 0, math.MaxUint32/timerHz, true)
	if !tOK {
		c.warn(bad, s)
	}
	return time.Duration(v) * time.Second, ok
}

// repeats reads a repeat count where 0 becomes 1.
func (c *cmd) repeats(i int, bad, zero string) (int, bool) {
	s, ok := c.arg(i)
	if !ok {
		return 0, false
	}
	v, ok, tOK := c.readUnsigned(s, 0, math.MaxUint32, true)
	if !tOK {
		c.warn(bad, s)
	}
	if !ok {
		return 0, false
	}
	if v == 0 {
		c.warn("%s", zero)
		v = 1
	}
	return int(min(v, math.MaxInt32)), true
}

// smtpServer is "smtp_server ADDRESS [PORT]" (port 25 by default).
func smtpServer(c *cmd) {
	addr, ok := c.arg(1)
	if !ok {
		return
	}
	port := "25"
	if c.has(2) {
		port = c.args[2]
	}
	ip, err := netip.ParseAddr(addr)
	p, perr := strconv.ParseUint(port, 10, 16)
	if err != nil || perr != nil || p == 0 {
		if err != nil && !strings.ContainsAny(addr, "-/") && perr == nil && p != 0 {
			// keepalived resolves a host name here (domain_stosockaddr).
			c.err("smtp_server %s is a host name: fulcrum needs an IP address (keepalived resolves the name once, at start-up)", addr)
			return
		}
		c.warn("Invalid smtp server %s %s", addr, port)
		return
	}
	c.st().g.smtpServer = netip.AddrPortFrom(ip.Unmap(), uint16(p))
}

// lvsTimeouts is "lvs_timeouts [tcp N] [tcpfin N] [udp N]", ipvsadm --set.
func lvsTimeouts(c *cmd) {
	if len(c.args) < 3 {
		c.warn("lvs_timeouts requires at least one option")
		return
	}
	t := &c.st().g.timeouts
	for i := 1; i < len(c.args); i++ {
		var dst *time.Duration
		switch c.args[i] {
		case "tcp":
			dst = &t.TCP
		case "tcpfin":
			dst = &t.TCPFin
		case "udp":
			dst = &t.UDP
		default:
			c.warn("Unknown option %s specified for lvs_timeouts", c.args[i])
			continue
		}
		if i == len(c.args)-1 {
			c.warn("No value specified for lvs_timeout %s - ignoring", c.args[i])
			continue
		}
		v, ok, _ := c.readUnsigned(c.args[i+1], 0, lvsMaxTimeout, false)
		if !ok {
			c.warn("Invalid lvs_timeout %s (%s) - ignoring", c.args[i], c.args[i+1])
		} else if v > 0 {
			// 0 leaves the kernel's value alone; the model says it.
			*dst = time.Duration(v) * time.Second
		}
		i++
	}
}

// lvsMaxTimeout is LVS_MAX_TIMEOUT, 31 days.
const lvsMaxTimeout = 86400 * 31

// trackFileKeywords is track_file.c add_track_file_keywords.
func trackFileKeywords() []*keyword {
	sub := []*keyword{
		kw("file", 1, func(c *cmd) {
			tf := c.st().curTF
			if !c.has(1) {
				c.warn("track file file name missing")
				return
			}
			if tf == nil {
				return
			}
			if tf.file != "" {
				c.warn("File already set for track file %s - ignoring %s", tf.name, c.args[1])
				return
			}
			tf.file = c.args[1]
		}),
		kw("weight", 2, func(c *cmd) {
			tf := c.st().curTF
			if tf == nil {
				return
			}
			if !c.has(1) {
				c.warn("No weight specified for track file %s - ignoring", tf.name)
				return
			}
			if tf.weight != 1 {
				c.warn("Weight already set for track file %s - ignoring %s", tf.name, c.args[1])
				return
			}
			v, ok, tOK := c.readInt(c.args[1], -254, 254, true)
			if !tOK {
				c.warn("Weight (%s) for track_file %s must be between [-254..254] inclusive. Ignoring...", c.args[1], tf.name)
			}
			if !ok {
				v = 1
			}
			tf.weight = int(v)
			if c.has(2) {
				if c.args[2] == "reverse" {
					tf.reverse = true
				} else {
					c.warn("track_file %s unknown weight option %s", tf.name, c.args[2])
				}
			}
		}),
		// init_file writes the file at start-up; fulcrum does not.
		kw("init_file", -1, (*cmd).ignored),
	}
	start := func(c *cmd) {
		name, ok := c.arg(1)
		if !ok {
			return
		}
		c.st().curTF = &trackFile{at: c.at, name: name, weight: 1}
	}
	end := func(p *pass) {
		tf := p.st.curTF
		if tf == nil {
			return
		}
		p.st.curTF = nil
		if tf.file == "" {
			p.sink.warnf(p.here(), "No file set for track_file %s - ignoring", tf.name)
			return
		}
		p.st.trackFiles = append(p.st.trackFiles, tf)
	}
	return []*keyword{
		block("track_file", 1, start, end, sub...),
		// A deprecated synonym, known to the VRRP process only.
		block("vrrp_track_file", 1, start, end, sub...),
	}
}
