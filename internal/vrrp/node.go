package vrrp

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/notify"
)

// DefaultPoll is how often tracked interfaces and files are read.
const DefaultPoll = 200 * time.Millisecond

// Options configures a Node. Every field is optional.
type Options struct {
	Logger *slog.Logger
	// Notifier receives notify_* scripts and mail (a *notify.Notifier).
	Notifier Notifier
	// Scripts runs vrrp_script checks (a *notify.Notifier); without it
	// every tracked script counts as failing.
	Scripts ScriptRunner
	// Clock defaults to the real clock.
	Clock Clock
	// Transport defaults to raw IP sockets (RawTransport).
	Transport Transport
	// Effects defaults to netlink and AF_PACKET (NetlinkEffects).
	Effects Effects
	// OnChange is called on every state change of every instance, on the
	// instance's goroutine: keep it short and do not call back into the
	// Node from it.
	OnChange func(StateChange)
	// Poll is the interface/file tracking period (default DefaultPoll).
	Poll time.Duration
}

// StateChange is one instance changing state.
type StateChange struct {
	Instance  string
	Group     string
	VRID      uint8
	Interface string
	From, To  State
	Reason    string
	Time      time.Time
	Priority  uint8
	VIPs      []netip.Addr
}

// Node runs the VRRP instances of one configuration. Apply may be called
// before or while Run runs; Status and MasterFor at any time.
type Node struct {
	log       *slog.Logger
	notifier  Notifier
	scripts   ScriptRunner
	clock     Clock
	transport Transport
	fx        Effects
	onChange  func(StateChange)
	pollEvery time.Duration

	mu        sync.Mutex
	running   bool
	ctx       context.Context
	pending   map[string]*settings
	scriptCfg []config.VRRPScript
	order     []string // instance names in config order
	instances map[string]*instance
	objects   map[string]*tracked
	scriptTr  map[string]*scriptTracker
	groups    map[string]*groupState
}

// groupState tracks a vrrp_sync_group's members.
type groupState struct {
	cfg     *config.VRRPSyncGroup
	members []string
	last    State // last state notified for the whole group
}

// New returns a Node; nothing runs until Run.
func New(opt Options) *Node {
	n := &Node{
		log:       opt.Logger,
		notifier:  opt.Notifier,
		scripts:   opt.Scripts,
		clock:     opt.Clock,
		transport: opt.Transport,
		fx:        opt.Effects,
		onChange:  opt.OnChange,
		pollEvery: opt.Poll,
		instances: map[string]*instance{},
		objects:   map[string]*tracked{},
		scriptTr:  map[string]*scriptTracker{},
		groups:    map[string]*groupState{},
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	n.log = n.log.With("component", "vrrp")
	if n.clock == nil {
		n.clock = realClock{}
	}
	if n.transport == nil {
		n.transport = RawTransport{}
	}
	if n.fx == nil {
		n.fx = &NetlinkEffects{}
	}
	if n.pollEvery <= 0 {
		n.pollEvery = DefaultPoll
	}
	return n
}

// Apply installs cfg's VRRP instances: new ones start, removed ones stop
// (priority 0 and addresses removed), changed ones restart, and unchanged
// ones keep their state.
func (n *Node) Apply(cfg *config.Config) error {
	set, err := buildSettings(cfg)
	if err != nil {
		return err
	}
	order := make([]string, 0, len(cfg.VRRPInstances))
	for _, vi := range cfg.VRRPInstances {
		order = append(order, vi.Name)
	}
	n.mu.Lock()
	n.pending, n.order = set, order
	groups := map[string]*groupState{}
	for i := range cfg.VRRPSyncGroups {
		g := cfg.VRRPSyncGroups[i]
		old := n.groups[g.Name]
		gs := &groupState{cfg: &g, members: slices.Clone(g.Group), last: StateInit}
		if old != nil && slices.Equal(old.members, gs.members) {
			gs.last = old.last
		}
		groups[g.Name] = gs
	}
	n.groups = groups
	n.scriptCfg = slices.Clone(cfg.VRRPScripts)
	running := n.running
	n.mu.Unlock()
	if running {
		n.reconcile()
	}
	return nil
}

// Run starts the instances and blocks until ctx ends; then every instance
// stops gracefully (a master sends priority 0 and removes its addresses)
// and Run returns.
func (n *Node) Run(ctx context.Context) error {
	n.mu.Lock()
	if n.running {
		n.mu.Unlock()
		return errors.New("vrrp: Run called twice")
	}
	n.running = true
	n.ctx = ctx
	n.mu.Unlock()

	pollCtx, stopPoll := context.WithCancel(context.WithoutCancel(ctx))
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		n.pollLinksAndFiles(pollCtx)
	}()
	n.reconcile()
	<-ctx.Done()

	n.mu.Lock()
	insts := make([]*instance, 0, len(n.instances))
	for _, in := range n.instances {
		insts = append(insts, in)
	}
	n.instances = map[string]*instance{}
	n.mu.Unlock()
	for _, in := range insts {
		in.cancel()
	}
	for _, in := range insts {
		<-in.done
	}
	n.stopScripts(nil)
	stopPoll()
	<-pollDone
	n.mu.Lock()
	n.running = false
	n.mu.Unlock()
	return nil
}

// reconcile starts, stops and restarts instances to match n.pending.
func (n *Node) reconcile() {
	n.mu.Lock()
	want, scripts := n.pending, n.scriptCfg
	var stop []*instance
	for name, in := range n.instances {
		if s, ok := want[name]; !ok || !s.equal(in.s) {
			stop = append(stop, in)
			delete(n.instances, name)
		}
	}
	n.mu.Unlock()
	for _, in := range stop {
		in.cancel()
		<-in.done
	}
	n.syncScripts(scripts)

	n.mu.Lock()
	defer n.mu.Unlock()
	for _, name := range n.order {
		if _, ok := n.instances[name]; ok {
			continue
		}
		in := newInstance(n, name, want[name])
		ctx, cancel := context.WithCancel(context.WithoutCancel(n.ctx))
		in.cancel = cancel
		n.instances[name] = in
		go in.run(ctx)
	}
}

// syncScripts keeps unchanged vrrp_script trackers running and replaces
// the others.
func (n *Node) syncScripts(scripts []config.VRRPScript) {
	keep := map[string]bool{}
	n.mu.Lock()
	for _, sc := range scripts {
		if st, ok := n.scriptTr[sc.Name]; ok && equalScript(st.cfg, sc) {
			keep[sc.Name] = true
		}
	}
	n.mu.Unlock()
	n.stopScripts(keep)
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, sc := range scripts {
		if keep[sc.Name] {
			continue
		}
		st := &scriptTracker{cfg: sc, obj: n.object("script:" + sc.Name), done: make(chan struct{})}
		ctx, cancel := context.WithCancel(context.WithoutCancel(n.ctx))
		st.cancel = cancel
		n.scriptTr[sc.Name] = st
		go n.runScript(ctx, st)
	}
}

func equalScript(a, b config.VRRPScript) bool { return a == b }

func (n *Node) stopScripts(keep map[string]bool) {
	n.mu.Lock()
	var stop []*scriptTracker
	for name, st := range n.scriptTr {
		if !keep[name] {
			stop = append(stop, st)
			delete(n.scriptTr, name)
		}
	}
	n.mu.Unlock()
	for _, st := range stop {
		st.cancel()
		<-st.done
	}
}

// object returns the shared tracked object for key; n.mu is held.
func (n *Node) object(key string) *tracked {
	o, ok := n.objects[key]
	if !ok {
		o = &tracked{key: key, value: trackInit}
		if path, isFile := strings.CutPrefix(key, "file:"); isFile {
			o.value = readTrackFile(path)
		}
		n.objects[key] = o
	}
	return o
}

func (n *Node) subscribe(key string, in *instance) int {
	n.mu.Lock()
	o := n.object(key)
	n.mu.Unlock()
	return o.subscribe(in)
}

func (n *Node) unsubscribe(key string, in *instance) {
	n.mu.Lock()
	o := n.objects[key]
	n.mu.Unlock()
	if o != nil {
		o.unsubscribe(in)
	}
}

// changed is called by instances on every transition: it publishes the
// change and keeps sync groups together (vrrp_sync.c): a member becoming
// MASTER pulls the others to MASTER, one dropping to BACKUP pulls the
// others to BACKUP, and a member in FAULT puts the whole group in FAULT.
func (n *Node) changed(c StateChange) {
	if n.onChange != nil {
		n.onChange(c)
	}
	if c.Group == "" || c.To == StateStop {
		return
	}
	n.mu.Lock()
	g := n.groups[c.Group]
	var peers []*instance
	if g != nil {
		for _, m := range g.members {
			if in := n.instances[m]; in != nil && m != c.Instance {
				peers = append(peers, in)
			}
		}
	}
	n.mu.Unlock()
	if g == nil {
		return
	}
	for _, p := range peers {
		switch c.To {
		case StateMaster:
			p.post(func() {
				if p.state() == StateBackup {
					p.becomeMaster("sync group " + c.Group + ": " + c.Instance + " became MASTER")
				}
			})
		case StateBackup:
			p.post(func() {
				if p.state() == StateMaster {
					p.becomeBackup("sync group " + c.Group + ": " + c.Instance + " became BACKUP")
				}
			})
		}
	}
	n.groupNotify(g)
}

// memberFault tells the other members of in's sync group that in's own
// trackers failed (or recovered): the whole group is in FAULT while any
// member's own trackers fail.
func (n *Node) memberFault(in *instance, faulty bool) {
	if in.s.group == "" {
		return
	}
	n.mu.Lock()
	g := n.groups[in.s.group]
	var peers []*instance
	if g != nil {
		for _, m := range g.members {
			if p := n.instances[m]; p != nil && p != in {
				peers = append(peers, p)
			}
		}
	}
	n.mu.Unlock()
	for _, p := range peers {
		p.post(func() { p.setPeerFault(in.name, faulty) })
	}
}

// groupNotify sends the group's notifications once every member is in the
// same state (vrrp_sync.c).
func (n *Node) groupNotify(g *groupState) {
	n.mu.Lock()
	var st State
	all := true
	for i, m := range g.members {
		in := n.instances[m]
		if in == nil {
			all = false
			break
		}
		s := in.state()
		if i == 0 {
			st = s
		} else if s != st {
			all = false
		}
	}
	if !all || st == g.last || st == StateInit {
		n.mu.Unlock()
		return
	}
	g.last = st
	cfg := g.cfg
	n.mu.Unlock()
	n.log.Info("sync group entering "+st.String()+" STATE", "group", cfg.Name)
	if n.notifier == nil {
		return
	}
	ev := notify.VRRPGroupEvent(cfg.Name, st.String())
	switch st {
	case StateMaster:
		ev.Script = cfg.NotifyMaster
	case StateBackup:
		ev.Script = cfg.NotifyBackup
	case StateFault:
		ev.Script = cfg.NotifyFault
	case StateStop:
		ev.Script = cfg.NotifyStop
		ev.Timeout = time.Second
	}
	if cfg.Notify != nil {
		ev.Extra = []notify.ScriptCall{{Script: cfg.Notify, Args: notify.VRRPNotifyArgs(true, cfg.Name, st.String(), 0)}}
	}
	ev.Email = cfg.SMTPAlert
	n.notifier.Notify(ev)
}

// Status returns every instance's state and counters, in config order.
func (n *Node) Status() []InstanceStatus {
	n.mu.Lock()
	insts := make([]*instance, 0, len(n.instances))
	for _, in := range n.instances {
		insts = append(insts, in)
	}
	order := map[string]int{}
	for i, name := range n.order {
		order[name] = i
	}
	n.mu.Unlock()
	out := make([]InstanceStatus, 0, len(insts))
	for _, in := range insts {
		out = append(out, in.status())
	}
	sort.Slice(out, func(i, j int) bool { return order[out[i].Name] < order[out[j].Name] })
	return out
}

// MasterFor reports whether this node is MASTER for an instance that
// holds addr (as a virtual or excluded address): the question
// keepalived's ha_suspend asks before running checkers.
func (n *Node) MasterFor(addr netip.Addr) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, in := range n.instances {
		if in.state() != StateMaster {
			continue
		}
		for _, a := range in.s.addresses {
			if a.Prefix.Addr() == addr {
				return true
			}
		}
	}
	return false
}
