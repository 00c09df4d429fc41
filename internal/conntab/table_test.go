package conntab

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/sched"
)

// fakeClock is an injectable clock for expiry tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func tcpKey(client string) Key {
	return Key{Proto: ProtoTCP, Client: ap(client), Virtual: ap("10.0.0.1:80")}
}

// availableDest returns a dest inside a service, so it is AVAILABLE.
func availableDest(t testing.TB, addr string, weight int32) (*sched.Service, *sched.Dest) {
	t.Helper()
	if !sched.Known("rr") {
		t.Skip("rr scheduler not registered yet")
	}
	s, err := sched.NewService("rr", 0, sched.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.AddDest(ap(addr), weight, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return s, d
}

func TestStateNamesAndTimeouts_ip_vs_proto_tcp(t *testing.T) {
	tab := New(Options{})
	tests := []struct {
		s       State
		name    string
		timeout time.Duration
	}{
		{StateNone, "NONE", 2 * time.Second},
		{StateEstablished, "ESTABLISHED", 900 * time.Second},
		{StateSynSent, "SYN_SENT", 120 * time.Second},
		{StateSynRecv, "SYN_RECV", 60 * time.Second},
		{StateFinWait, "FIN_WAIT", 120 * time.Second},
		{StateTimeWait, "TIME_WAIT", 120 * time.Second},
		{StateClose, "CLOSE", 10 * time.Second},
		{StateCloseWait, "CLOSE_WAIT", 60 * time.Second},
		{StateLastAck, "LAST_ACK", 30 * time.Second},
		{StateListen, "LISTEN", 120 * time.Second},
		{StateSynAck, "SYNACK", 120 * time.Second},
		{StateUDP, "UDP", 300 * time.Second},
	}
	for _, tc := range tests {
		if tc.s.String() != tc.name {
			t.Errorf("state %d name %q, want %q", tc.s, tc.s, tc.name)
		}
		if got := tab.StateTimeout(tc.s); got != tc.timeout {
			t.Errorf("%s timeout %v, want %v", tc.name, got, tc.timeout)
		}
	}
	if tab.Size() != 4096 {
		t.Errorf("default size %d, want 4096 (CONFIG_IP_VS_TAB_BITS=12)", tab.Size())
	}
	if New(Options{Bits: 3}).Size() != 256 || New(Options{Bits: 20}).Size() != 1<<20 {
		t.Error("bits not clamped to the kernel's minimum of 8")
	}
}

func TestSetTimeouts_ipvsadm_set(t *testing.T) {
	tab := New(Options{})
	tab.SetTimeouts(Timeouts{TCP: 30 * time.Second})
	want := Timeouts{TCP: 30 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}
	if got := tab.Timeouts(); got != want {
		t.Fatalf("after --set 30 0 0: %+v, want %+v", got, want)
	}
	tab.SetTimeouts(Timeouts{TCPFin: 5 * time.Second, UDP: 7 * time.Second})
	want = Timeouts{TCP: 30 * time.Second, TCPFin: 5 * time.Second, UDP: 7 * time.Second}
	if got := tab.Timeouts(); got != want {
		t.Fatalf("after --set 0 5 7: %+v, want %+v", got, want)
	}
	if tab.StateTimeout(StateEstablished) != 30*time.Second || tab.StateTimeout(StateFinWait) != 5*time.Second ||
		tab.StateTimeout(StateUDP) != 7*time.Second || tab.StateTimeout(StateTimeWait) != 120*time.Second {
		t.Fatal("--set must change ESTABLISHED, FIN_WAIT and UDP only")
	}
}

type ev struct {
	d Dir
	f Flag
}

var (
	inSYN  = ev{DirInput, FlagSYN}
	inACK  = ev{DirInput, FlagACK}
	inFIN  = ev{DirInput, FlagFIN}
	inRST  = ev{DirInput, FlagRST}
	outSYN = ev{DirOutput, FlagSYN}
	outACK = ev{DirOutput, FlagACK}
	outFIN = ev{DirOutput, FlagFIN}
	outRST = ev{DirOutput, FlagRST}
)

// Sequences through tcp_states of ip_vs_proto_tcp.c; each expected state is
// read off the table row named in the comment.
func TestTCPTransitions_ip_vs_proto_tcp(t *testing.T) {
	tests := []struct {
		name     string
		noOutput bool
		events   []ev
		want     []State
	}{
		{name: "NAT handshake", events: []ev{inSYN, outSYN, inACK},
			// INPUT syn sNO->sSR; OUTPUT syn sSR->sSR; INPUT ack sSR->sES
			want: []State{StateSynRecv, StateSynRecv, StateEstablished}},
		{name: "NAT client closes first", events: []ev{inSYN, outSYN, inACK, inFIN, outACK, outFIN, inACK},
			// INPUT fin sES->sCW; OUTPUT ack sCW->sCW; OUTPUT fin sCW->sTW; INPUT ack sTW->sTW
			want: []State{StateSynRecv, StateSynRecv, StateEstablished, StateCloseWait, StateCloseWait, StateTimeWait, StateTimeWait}},
		{name: "NAT server closes first", events: []ev{inSYN, outSYN, inACK, outFIN, inACK, inFIN, outACK},
			// OUTPUT fin sES->sFW; INPUT ack sFW->sFW; INPUT fin sFW->sTW; OUTPUT ack sTW->sTW
			want: []State{StateSynRecv, StateSynRecv, StateEstablished, StateFinWait, StateFinWait, StateTimeWait, StateTimeWait}},
		{name: "real server refuses", events: []ev{inSYN, outRST},
			// OUTPUT rst sSR->sCL
			want: []State{StateSynRecv, StateClose}},
		{name: "client reset while established", events: []ev{inSYN, outSYN, inACK, inRST},
			want: []State{StateSynRecv, StateSynRecv, StateEstablished, StateClose}},
		{name: "client reset in SYN_RECV is ignored", events: []ev{inSYN, inRST},
			// INPUT rst sSR->sSR
			want: []State{StateSynRecv, StateSynRecv}},
		{name: "server reset in TIME_WAIT stays", events: []ev{inSYN, outSYN, inACK, inFIN, outFIN, outRST},
			// OUTPUT rst sTW->sTW
			want: []State{StateSynRecv, StateSynRecv, StateEstablished, StateCloseWait, StateTimeWait, StateTimeWait}},
		{name: "direct routing (INPUT-ONLY)", noOutput: true, events: []ev{inSYN, inACK, inFIN, inACK},
			// INPUT-ONLY: syn sNO->sSR, ack sSR->sES, fin sES->sFW, ack sFW->sFW
			want: []State{StateSynRecv, StateEstablished, StateFinWait, StateFinWait}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab := New(Options{Now: newClock().Now})
			e, err := tab.Insert(Params{Key: tcpKey("10.1.1.5:51000"), Dest: ap("192.168.1.2:80"), NoOutput: tc.noOutput})
			if err != nil {
				t.Fatal(err)
			}
			for i, x := range tc.events {
				if got := e.Event(x.d, x.f); got != tc.want[i] {
					t.Fatalf("event %d (dir %d flag %d): state %s, want %s", i, x.d, x.f, got, tc.want[i])
				}
				if got, want := e.Info().Expires, tab.StateTimeout(tc.want[i]); got != want {
					t.Fatalf("event %d: timer %v, want the %s timeout %v", i, got, tc.want[i], want)
				}
			}
		})
	}
}

func TestActiveInactive_ip_vs_bind_dest(t *testing.T) {
	clk := newClock()
	tab := New(Options{Now: clk.Now})
	d := sched.NewDest(ap("192.168.1.2:80"), 1, 0, 0)
	check := func(step string, act, inact int32) {
		t.Helper()
		if d.ActiveConns() != act || d.InactConns() != inact {
			t.Fatalf("%s: active %d inactive %d, want %d %d", step, d.ActiveConns(), d.InactConns(), act, inact)
		}
	}
	var expired atomic.Int32
	e, _ := tab.Insert(Params{Key: tcpKey("10.1.1.5:51000"), Dest: d.Addr, DestRef: d, OnExpire: func() { expired.Add(1) }})
	check("new connection", 0, 1)
	e.Event(DirInput, FlagSYN)
	check("SYN_RECV", 0, 1)
	e.Event(DirOutput, FlagSYN)
	e.Event(DirInput, FlagACK)
	check("ESTABLISHED", 1, 0)
	if !e.Info().Active {
		t.Fatal("ESTABLISHED entry not active")
	}
	e.Event(DirInput, FlagFIN)
	check("CLOSE_WAIT", 0, 1)
	e.Event(DirOutput, FlagFIN)
	check("TIME_WAIT", 0, 1)

	clk.Advance(119 * time.Second)
	if n := tab.Sweep(); n != 0 || !e.Alive() {
		t.Fatalf("TIME_WAIT gone after 119 s (swept %d)", n)
	}
	check("TIME_WAIT at 119 s", 0, 1)
	clk.Advance(time.Second)
	if n := tab.Sweep(); n != 1 || e.Alive() {
		t.Fatalf("TIME_WAIT still there after 120 s (swept %d)", n)
	}
	check("expired", 0, 0)
	if expired.Load() != 1 {
		t.Fatalf("OnExpire ran %d times", expired.Load())
	}
	// Events on a dead entry change nothing.
	e.Event(DirInput, FlagSYN)
	check("after expiry", 0, 0)

	// UDP: always inactive.
	u, _ := tab.Insert(Params{Key: Key{Proto: ProtoUDP, Client: ap("10.1.1.5:5353"), Virtual: ap("10.0.0.1:53")}, DestRef: d})
	u.Event(DirInput, FlagACK)
	check("UDP", 0, 1)
	if in := u.Info(); in.State != StateUDP || in.StateName() != "UDP" || in.Expires != 300*time.Second {
		t.Fatalf("UDP entry %+v", in)
	}
	if tab.Len() != 1 {
		t.Fatalf("Len %d, want 1", tab.Len())
	}
}

// An ESTABLISHED entry expires after the tcp timeout without traffic; a
// Touch re-arms it; a --set change applies from the next re-arm, as the
// kernel copies the timeout into cp->timeout only on a packet.
func TestExpiryAndLiveTimeoutChange(t *testing.T) {
	clk := newClock()
	tab := New(Options{Now: clk.Now})
	e, _ := tab.Insert(Params{Key: tcpKey("10.1.1.5:51000")})
	e.Event(DirInput, FlagSYN)
	e.Event(DirInput, FlagACK)
	clk.Advance(899 * time.Second)
	e.Touch()
	clk.Advance(899 * time.Second)
	if tab.Sweep() != 0 {
		t.Fatal("touched entry expired early")
	}
	tab.SetTimeouts(Timeouts{TCP: 10 * time.Second})
	if got := e.Info().Expires; got != time.Second {
		t.Fatalf("expires %v: an idle entry keeps its armed timeout", got)
	}
	e.Touch()
	if got := e.Info().Expires; got != 10*time.Second {
		t.Fatalf("expires %v after a packet, want the new 10 s", got)
	}
	clk.Advance(10 * time.Second)
	if tab.Sweep() != 1 {
		t.Fatal("entry did not expire with the new timeout")
	}
}

func TestTemplates_ip_vs_sched_persist(t *testing.T) {
	clk := newClock()
	tab := New(Options{Now: clk.Now})
	svc, d := availableDest(t, "192.168.1.2:80", 1)
	tk := Key{Proto: ProtoTCP, Client: ap("10.1.1.0:0"), Virtual: ap("10.0.0.1:80")}
	ct, err := tab.Insert(Params{Key: tk, Dest: d.Addr, DestRef: d, Template: true, Timeout: 300 * time.Second, Hashed: true})
	if err != nil {
		t.Fatal(err)
	}
	if d.PersistConns() != 1 || d.InactConns() != 0 {
		t.Fatalf("template: persist %d inact %d", d.PersistConns(), d.InactConns())
	}
	if got := tab.Lookup(tk); got != ct {
		t.Fatal("template not found by key")
	}
	in := ct.Info()
	if !in.Template || in.StateName() != "NONE" || in.Client.Port() != 0 || in.Expires != 300*time.Second {
		t.Fatalf("template info %+v", in)
	}
	c, _ := tab.Insert(Params{Key: tcpKey("10.1.1.7:40000"), Dest: d.Addr, DestRef: d})
	c.SetControl(ct)
	c.Event(DirInput, FlagSYN)
	c.Event(DirInput, FlagACK)
	if ct.NControl() != 1 {
		t.Fatalf("n_control %d", ct.NControl())
	}

	// The template's timer fires while it controls a live connection: it
	// is kept and re-armed for 60 s (expire_later).
	clk.Advance(300 * time.Second)
	if tab.Sweep() != 0 || !ct.Alive() {
		t.Fatal("template controlling a connection was removed")
	}
	if got := ct.Info().Expires; got != 60*time.Second {
		t.Fatalf("template re-armed for %v, want 60 s", got)
	}
	// A new connection re-arms it with its current timeout (60 s now).
	clk.Advance(30 * time.Second)
	ct.Touch()
	if got := ct.Info().Expires; got != 60*time.Second {
		t.Fatalf("touched template expires in %v, want 60 s", got)
	}
	// The connection ends; the template goes at its next expiry.
	tab.Expire(c)
	if ct.NControl() != 0 {
		t.Fatalf("n_control %d after the connection left", ct.NControl())
	}
	clk.Advance(60 * time.Second)
	if tab.Sweep() != 1 || ct.Alive() {
		t.Fatal("template not expired")
	}
	if d.PersistConns() != 0 || tab.Lookup(tk) != nil {
		t.Fatalf("persist %d after the template expired", d.PersistConns())
	}

	// ip_vs_check_template: valid while the dest is available; weight 0
	// keeps it unless expire_quiescent_template; removal invalidates it.
	ct2, _ := tab.Insert(Params{Key: tk, Dest: d.Addr, DestRef: d, Template: true, Timeout: 300 * time.Second, Hashed: true})
	if err := svc.EditDest(d.Addr, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	if !tab.CheckTemplate(ct2, false) {
		t.Fatal("weight 0 invalidated the template with expire_quiescent_template=0")
	}
	if err := svc.DelDest(d.Addr); err != nil {
		t.Fatal(err)
	}
	if tab.CheckTemplate(ct2, false) {
		t.Fatal("template of a removed dest still valid")
	}
	if tab.Lookup(tk) != nil {
		t.Fatal("invalidated template still found")
	}
	in = ct2.Info()
	if in.Virtual.Port() != 0xffff || in.Dest.Port() != 0xffff || !ct2.Alive() {
		t.Fatalf("invalidated template %+v: want ports 65535 and kept until it times out", in)
	}
	clk.Advance(300 * time.Second)
	tab.Sweep()
	if ct2.Alive() || d.PersistConns() != 0 {
		t.Fatal("invalidated template never expired")
	}
}

func TestExpireQuiescentTemplate(t *testing.T) {
	tab := New(Options{})
	svc, d := availableDest(t, "192.168.1.2:80", 1)
	ct, _ := tab.Insert(Params{Key: tcpKey("10.1.1.0:0"), DestRef: d, Template: true, Timeout: time.Minute, Hashed: true})
	_ = svc.EditDest(d.Addr, 0, 0, 0)
	if tab.CheckTemplate(ct, true) {
		t.Fatal("weight-0 dest valid with expire_quiescent_template=1")
	}
}

func TestBoundedEviction(t *testing.T) {
	tab := New(Options{MaxEntries: 3})
	var evicted []string
	var mu sync.Mutex
	ins := func(client string) (*Entry, error) {
		return tab.Insert(Params{Key: tcpKey(client), OnExpire: func() {
			mu.Lock()
			evicted = append(evicted, client)
			mu.Unlock()
		}})
	}
	est, _ := ins("10.1.1.1:1")
	est.Event(DirInput, FlagSYN)
	est.Event(DirInput, FlagACK) // active: never evicted
	_, _ = ins("10.1.1.2:1")
	_, _ = ins("10.1.1.3:1")
	if _, err := ins("10.1.1.4:1"); err != nil {
		t.Fatal(err)
	}
	if tab.Len() != 3 || len(evicted) != 1 || evicted[0] == "10.1.1.1:1" {
		t.Fatalf("len %d evicted %v", tab.Len(), evicted)
	}
	// Fill with active entries only: no room.
	full := New(Options{MaxEntries: 1})
	a, _ := full.Insert(Params{Key: tcpKey("10.1.1.1:1")})
	a.Event(DirInput, FlagSYN)
	a.Event(DirInput, FlagACK)
	if _, err := full.Insert(Params{Key: tcpKey("10.1.1.2:1")}); !errors.Is(err, ErrFull) {
		t.Fatalf("err %v, want ErrFull", err)
	}
}

// Many goroutines insert, drive and expire entries while sweeps run; at the
// end every dest counter must be back to zero and the table empty.
func TestConcurrent(t *testing.T) {
	clk := newClock()
	tab := New(Options{Now: clk.Now})
	dests := make([]*sched.Dest, 4)
	for i := range dests {
		dests[i] = sched.NewDest(ap(fmt.Sprintf("192.168.1.%d:80", i+1)), 1, 0, 0)
	}
	const workers, per = 8, 2000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				tab.Sweep()
			}
		}
	}()
	for w := range workers {
		wg.Go(func() {
			for i := range per {
				d := dests[(w+i)%len(dests)]
				k := tcpKey(fmt.Sprintf("10.%d.%d.%d:%d", w, i>>8, i&255, 1000+i))
				e, err := tab.Insert(Params{Key: k, Dest: d.Addr, DestRef: d, Hashed: i%2 == 0})
				if err != nil {
					t.Error(err)
					return
				}
				e.Event(DirInput, FlagSYN)
				e.Event(DirInput, FlagACK)
				e.Touch()
				if i%3 == 0 {
					e.Event(DirInput, FlagFIN)
				}
				if i%2 == 0 && tab.Lookup(k) != e {
					t.Error("hashed entry not found")
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	if tab.Len() != workers*per {
		t.Fatalf("len %d, want %d", tab.Len(), workers*per)
	}
	if got := len(tab.Snapshot()); got != workers*per {
		t.Fatalf("snapshot %d entries", got)
	}
	clk.Advance(time.Hour)
	tab.Sweep()
	if tab.Len() != 0 {
		t.Fatalf("len %d after expiry", tab.Len())
	}
	for _, d := range dests {
		if d.ActiveConns() != 0 || d.InactConns() != 0 {
			t.Fatalf("dest %s: active %d inactive %d after everything expired", d.Addr, d.ActiveConns(), d.InactConns())
		}
	}
}

func BenchmarkInsert(b *testing.B) {
	tab := New(Options{})
	d := sched.NewDest(ap("192.168.1.2:80"), 1, 0, 0)
	keys := make([]Key, 1<<16)
	for i := range keys {
		keys[i] = tcpKey(fmt.Sprintf("10.1.%d.%d:%d", i>>8, i&255, 1024+i%50000))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		e, _ := tab.Insert(Params{Key: keys[i&(len(keys)-1)], DestRef: d, Hashed: true})
		tab.Expire(e)
		i++
	}
}

func BenchmarkLookup(b *testing.B) {
	tab := New(Options{})
	keys := make([]Key, 10000)
	for i := range keys {
		keys[i] = tcpKey(fmt.Sprintf("10.1.%d.%d:%d", i>>8, i&255, 1024+i))
		_, _ = tab.Insert(Params{Key: keys[i], Hashed: true})
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if tab.Lookup(keys[i%len(keys)]) == nil {
			b.Fatal("miss")
		}
		i++
	}
}

func BenchmarkTouch(b *testing.B) {
	tab := New(Options{})
	e, _ := tab.Insert(Params{Key: Key{Proto: ProtoUDP, Client: ap("10.1.1.1:1"), Virtual: ap("10.0.0.1:53")}})
	b.ReportAllocs()
	for b.Loop() {
		e.Touch()
	}
}

func BenchmarkSweep100k(b *testing.B) {
	tab := New(Options{})
	for i := range 100_000 {
		_, _ = tab.Insert(Params{Key: tcpKey(fmt.Sprintf("10.%d.%d.%d:80", i>>16, (i>>8)&255, i&255))})
	}
	b.ReportAllocs()
	for b.Loop() {
		tab.Sweep()
	}
}
