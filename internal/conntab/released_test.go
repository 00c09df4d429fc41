package conntab

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/sched"
)

// hasPointers reports whether values of t hold any pointer the garbage
// collector would have to follow.
func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Array:
		return t.Len() > 0 && hasPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
		return false
	case reflect.Pointer, reflect.UnsafePointer, reflect.Map, reflect.Slice, reflect.String,
		reflect.Chan, reflect.Func, reflect.Interface:
		return true
	}
	return false
}

// The point of Release: what a finished connection leaves in the table is
// memory the collector never has to walk.
func TestReleasedRecordHasNoPointers(t *testing.T) {
	if hasPointers(reflect.TypeFor[released]()) {
		t.Fatal("released holds pointers: a table of finished connections would be scanned by every GC cycle")
	}
	if !hasPointers(reflect.TypeFor[netip.AddrPort]()) {
		t.Fatal("hasPointers misses netip's zone handle; the check above proves nothing")
	}
}

func TestPackAddrPort(t *testing.T) {
	for _, s := range []string{"10.1.2.3:80", "[2001:db8::1]:443", "[::ffff:10.1.2.3]:80", "0.0.0.0:0", "[::]:65535"} {
		a := ap(s)
		p, ok := pack(a)
		if !ok || p.unpack() != a {
			t.Errorf("%s: packed %v ok %v -> %s", s, p, ok, p.unpack())
		}
	}
	if p, ok := pack(netip.AddrPort{}); !ok || p.unpack().IsValid() {
		t.Errorf("the zero AddrPort must round-trip as invalid")
	}
	if _, ok := pack(ap("[fe80::1%eth0]:80")); ok {
		t.Errorf("a zoned address cannot be packed")
	}
}

// A released connection is still listed, counted and bound to its dest
// (ipvsadm -lnc shows TIME_WAIT entries for 120 s, the dest keeps counting
// it inactive) until its timer runs out, then everything goes back to zero.
func TestReleaseKeepsListingAndCounters(t *testing.T) {
	clk := newClock()
	tab := New(Options{Now: clk.Now})
	d := sched.NewDest(ap("192.168.1.2:80"), 1, 0, 0)
	var fired int
	e, err := tab.Insert(Params{Key: tcpKey("10.1.1.1:1000"), Dest: d.Addr, DestRef: d, OnExpire: func() { fired++ }})
	if err != nil {
		t.Fatal(err)
	}
	live, _ := tab.Insert(Params{Key: tcpKey("10.1.1.2:1000"), Dest: d.Addr, DestRef: d})
	// SYN, ACK, FIN from the client, FIN+ACK back, last ACK: TIME_WAIT.
	e.Event(DirInput, FlagSYN)
	e.Event(DirInput, FlagACK)
	e.Event(DirInput, FlagFIN)
	e.Event(DirOutput, FlagFIN)
	e.Event(DirInput, FlagACK)
	clk.Advance(10 * time.Second)
	before := e.Info()
	if before.State != StateTimeWait {
		t.Fatalf("state %s, want TIME_WAIT", before.State)
	}
	e.Release()
	if e.Alive() {
		t.Error("a released handle reports Alive")
	}
	if e.Event(DirInput, FlagRST) != StateTimeWait {
		t.Error("an event changed a released handle")
	}
	snap := tab.Snapshot()
	if len(snap) != 2 || tab.Len() != 2 {
		t.Fatalf("after Release: %d listed, Len %d; want 2, 2", len(snap), tab.Len())
	}
	var got Info
	for _, i := range snap {
		if i.Client == before.Client {
			got = i
		}
	}
	if got != before {
		t.Fatalf("listing changed on Release:\n got %+v\nwant %+v", got, before)
	}
	if d.InactConns() != 2 || d.ActiveConns() != 0 {
		t.Fatalf("dest counters %d active %d inactive, want 0 2", d.ActiveConns(), d.InactConns())
	}
	clk.Advance(StateTimeout(tab, StateTimeWait) - 10*time.Second - time.Nanosecond)
	tab.Sweep()
	if tab.Len() != 1 {
		// "live" (NONE, 3 s) is gone; the released one has 1 ns left.
		t.Fatalf("Len %d before the TIME_WAIT timeout ran out, want 1", tab.Len())
	}
	clk.Advance(time.Nanosecond)
	if n := tab.Sweep(); n != 1 || tab.Len() != 0 || len(tab.Snapshot()) != 0 {
		t.Fatalf("sweep removed %d, Len %d; want 1, 0", n, tab.Len())
	}
	if d.InactConns() != 0 || d.ActiveConns() != 0 {
		t.Fatalf("dest counters %d %d after expiry, want 0 0", d.ActiveConns(), d.InactConns())
	}
	if fired != 0 {
		t.Error("OnExpire ran after Release")
	}
	if tab.Expire(e) {
		t.Error("Expire of a released handle removed something")
	}
	_ = live
}

// StateTimeout as a helper keeps the test readable.
func StateTimeout(t *Table, s State) time.Duration { return t.StateTimeout(s) }

// A template is not removed while a released connection it controls is in
// the table (ip_vs_conn_expire's expire_later counts n_control).
func TestReleasedKeepsTemplateControl(t *testing.T) {
	clk := newClock()
	tab := New(Options{Now: clk.Now})
	d := sched.NewDest(ap("192.168.1.2:80"), 1, 0, 0)
	ct, _ := tab.Insert(Params{Key: Key{Proto: ProtoTCP, Client: ap("10.1.1.0:0"), Virtual: ap("10.0.0.1:80")},
		Dest: d.Addr, DestRef: d, Template: true, Timeout: time.Second, Hashed: true})
	c, _ := tab.Insert(Params{Key: tcpKey("10.1.1.1:1000"), Dest: d.Addr, DestRef: d})
	c.SetControl(ct)
	c.Event(DirInput, FlagSYN)
	c.Event(DirOutput, FlagRST) // the server refused: CLOSE, 10 s
	c.Release()
	if ct.NControl() != 1 {
		t.Fatalf("n_control %d after Release, want 1", ct.NControl())
	}
	clk.Advance(2 * time.Second)
	tab.Sweep()
	if tab.Lookup(ct.keyLocked()) != ct {
		t.Fatal("the template left the table while it controls a released connection")
	}
	clk.Advance(9 * time.Second)
	tab.Sweep()
	if ct.NControl() != 0 || tab.Len() != 1 {
		t.Fatalf("after the connection expired: n_control %d, Len %d; want 0, 1", ct.NControl(), tab.Len())
	}
	clk.Advance(60 * time.Second) // expire_later's 60 s
	tab.Sweep()
	if tab.Len() != 0 || d.PersistConns() != 0 || d.InactConns() != 0 {
		t.Fatalf("Len %d persist %d inact %d, want all 0", tab.Len(), d.PersistConns(), d.InactConns())
	}
}

// Indexed entries and templates stay whole: Lookup must still find them.
func TestReleaseIndexedStays(t *testing.T) {
	tab := New(Options{})
	k := Key{Proto: ProtoUDP, Client: ap("10.1.1.1:53"), Virtual: ap("10.0.0.1:53")}
	e, _ := tab.Insert(Params{Key: k, Hashed: true})
	e.Release()
	if tab.Lookup(k) != e || !e.Alive() {
		t.Fatal("an indexed entry was detached by Release")
	}
}

// A full bounded table evicts a released (finished) connection before any
// other inactive one.
func TestEvictionPrefersReleased(t *testing.T) {
	tab := New(Options{MaxEntries: 2})
	var evicted []string
	ins := func(client string) *Entry {
		e, err := tab.Insert(Params{Key: tcpKey(client), OnExpire: func() { evicted = append(evicted, client) }})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	ins("10.1.1.1:1")
	done := ins("10.1.1.2:1")
	done.Release()
	ins("10.1.1.3:1")
	if len(evicted) != 0 || tab.Len() != 2 {
		t.Fatalf("evicted %v, Len %d", evicted, tab.Len())
	}
	for _, i := range tab.Snapshot() {
		if i.Client == ap("10.1.1.2:1") {
			t.Fatal("the released connection is still listed: it should have been evicted first")
		}
	}
}
