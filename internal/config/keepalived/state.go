package keepalived

import (
	"net/netip"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// state is what one pass reads, in keepalived's own terms; build turns it
// into the model. Values that may be unset use -1 (unset), since the
// precedence rules need to know what the file left out.
type state struct {
	opts    *Options
	g       globalDefs
	scripts int // scripts the file would run, for script security

	vrrps    []*vrrpInst
	vscripts []*vrrpScript
	syncs    []*syncGroup

	vss        []*virtualServer
	vsgs       []*vsGroup
	trackFiles []*trackFile

	curVRRP   *vrrpInst
	curScript *vrrpScript
	curSync   *syncGroup
	curVSG    *vsGroup
	curVS     *virtualServer
	curRS     *realServer
	curChk    *checker
	curURL    *config.CheckURL
	curTF     *trackFile
}

const unset = -1

func (s *state) hasScript(name string) bool {
	for _, v := range s.vscripts {
		if v.name == name {
			return true
		}
	}
	return false
}

func (s *state) hasTrackFile(name string) bool {
	for _, t := range s.trackFiles {
		if t.name == name {
			return true
		}
	}
	return false
}

func newState(opts *Options) *state {
	return &state{opts: opts, g: globalDefs{
		smtpAlert: unset, smtpAlertVRRP: unset, smtpAlertChecker: unset,
		garpDelay: unset, garpRep: unset, garpRefresh: unset, garpRefreshRep: unset,
	}}
}

// globalDefs is global_defs (global_data.c).
type globalDefs struct {
	routerID         string
	emails           []string
	emailFrom        string
	smtpServer       netip.AddrPort
	smtpTimeout      time.Duration
	smtpHelo         string
	smtpAlert        int
	smtpAlertVRRP    int
	smtpAlertChecker int
	scriptSecurity   bool
	scriptSecAt      pos
	scriptUser       string
	scriptGroup      string
	vrrpVersion      int
	garpDelay        time.Duration
	garpRep          int
	garpRefresh      time.Duration
	garpRefreshRep   int
	vrrpStrict       bool
	timeouts         config.Timeouts
}

// vrrpInst is a vrrp_instance (vrrp_data.c alloc_vrrp).
type vrrpInst struct {
	at                                                          pos
	name                                                        string
	state                                                       string
	stateAt                                                     pos
	iface                                                       string
	ifaceAt                                                     pos
	vrid                                                        int
	priority                                                    int
	advert                                                      time.Duration
	advertAt                                                    pos
	version                                                     int
	versionAt                                                   pos
	authSeen                                                    bool
	authAt                                                      pos
	authType                                                    string
	authPass                                                    string
	authLost                                                    string // the line an auth_pass was lost in, for the hint
	authLostAt                                                  pos
	vips                                                        []config.VIP
	evips                                                       []config.VIP
	routes                                                      []string
	nopreempt                                                   bool
	nopreemptAt                                                 pos
	preemptDelay                                                time.Duration
	preemptDelayAt                                              pos
	accept                                                      int
	unicastSrc                                                  netip.Addr
	unicast                                                     bool // a unicast keyword was used
	unicastAt                                                   pos
	peers                                                       []netip.Addr
	mcastSrc                                                    netip.Addr
	trackIf                                                     []trackRef
	trackScr                                                    []trackRef
	trackFile                                                   []trackRef
	notifyMaster, notifyBackup, notifyFault, notifyStop, notify *config.Script
	smtpAlert                                                   int
	garpDelay                                                   time.Duration
	garpRep                                                     int
	garpRefresh                                                 time.Duration
	useVMAC                                                     bool
	family                                                      int // 4 or 6 once an address says so
}

type trackRef struct {
	at  pos
	ref config.TrackRef
}

// vrrpScript is a vrrp_script.
type vrrpScript struct {
	at       pos
	name     string
	script   *config.Script
	user     string
	group    string
	interval time.Duration
	timeout  time.Duration
	weight   int
	reverse  bool
	rise     int
	fall     int
	initFail bool
}

// syncGroup is a vrrp_sync_group.
type syncGroup struct {
	at                                                          pos
	name                                                        string
	group                                                       []string
	groupSet                                                    bool
	trackScr                                                    []trackRef
	notifyMaster, notifyBackup, notifyFault, notifyStop, notify *config.Script
	smtpAlert                                                   bool
}

// vsGroup is a virtual_server_group.
type vsGroup struct {
	at      pos
	name    string
	entries []vsgEntry
}

type vsgEntry struct {
	at     pos
	fwmark uint32
	isFW   bool
	fwFam  int // 0, 4 or 6
	first  netip.Addr
	last   netip.Addr
	port   uint16
}

// virtualServer is a virtual_server (check_data.c alloc_vs).
type virtualServer struct {
	at           pos
	vsgName      string
	isFW         bool
	fwmark       uint32
	addr         netip.Addr
	port         uint16
	af           int
	sched        string
	flags        []string
	flagAt       []pos
	ops          bool
	fwd          config.Forward
	persistence  uint32
	persistAt    pos
	granularity  int // prefix bits, unset if absent
	granAt       pos
	protocol     string
	delayLoop    time.Duration
	connTo       time.Duration
	warmup       time.Duration
	dbr          time.Duration
	retry        int
	inhibit      bool
	alpha        bool
	omega        bool
	haSuspend    bool
	smtpAlert    int
	virtualhost  string
	quorum       uint32
	hysteresis   uint32
	quorumUp     *config.Script
	quorumDown   *config.Script
	weight       int64
	sorry        *realServer
	sorryInhibit bool
	rss          []*realServer
}

// realServer is a real_server or sorry_server (check_data.c alloc_rs).
type realServer struct {
	at          pos
	addr        netip.Addr
	port        uint16
	weight      int64
	fwd         config.Forward
	uthr        uint32
	lthr        uint32
	inhibit     int
	alpha       int
	smtpAlert   int
	connTo      time.Duration
	delayLoop   time.Duration
	warmup      time.Duration
	dbr         time.Duration
	retry       int
	notifyUp    *config.Script
	notifyDown  *config.Script
	virtualhost string
	checks      []*checker
}

// checker is one health checker (check_api.c queue_checker).
type checker struct {
	at        pos
	typ       config.CheckType
	retry     int
	defRetry  int
	dbr       time.Duration
	defDBR    time.Duration // 0: delay_loop
	delayLoop time.Duration
	warmup    time.Duration
	alpha     int
	co        conn
	dropped   bool
	// SMTP_CHECK host{} blocks: the connection being read is saved in
	// savedCo, and each host's connection is collected in hosts.
	savedCo conn
	hosts   []conn

	urls         []config.CheckURL
	urlAt        []pos
	httpProto    string
	virtualhost  string
	fastRecovery bool
	enableSNI    bool
	sniName      string
	tlsCompliant bool

	misc        *config.Script
	miscUser    string
	miscGroup   string
	miscTimeout time.Duration
	miscDynamic bool

	payload      []byte
	requireReply bool
	reply        string
	minLen       int
	maxLen       int

	dnsType string
	dnsName string

	helo string

	trackFile   string
	fileWeight  int
	fileWSet    bool
	fileReverse bool
}

// conn is a checker's connection options (conn_opts_t).
type conn struct {
	connectIP   netip.Addr
	connectPort uint16
	bindTo      netip.Addr
	bindPort    uint16
	bindIf      string
	fwmark      uint32
	connTo      time.Duration
}

// set reports whether any option was given (smtp_check_end_handler).
func (c conn) set() bool {
	return c.connectIP.IsValid() || c.connectPort != 0 || c.bindTo.IsValid() || c.bindPort != 0 || c.bindIf != "" || c.fwmark != 0 || c.connTo != unset
}

// trackFile is a track_file (or vrrp_track_file) block.
type trackFile struct {
	at      pos
	name    string
	file    string
	weight  int
	reverse bool
}
