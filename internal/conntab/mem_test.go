package conntab

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/sched"
)

// entryHeapBytes fills a fresh table with one entry per key and returns
// the live heap it added per entry, after a full GC on both sides, so the
// number is what the entries keep alive and not garbage.
func entryHeapBytes(keys []Key, d *sched.Dest, hashed, release bool) float64 {
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	tab := New(Options{})
	for _, k := range keys {
		e, _ := tab.Insert(Params{Key: k, Dest: d.Addr, DestRef: d, Hashed: hashed, Template: hashed, Timeout: 300e9})
		if release {
			e.Release()
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	runtime.KeepAlive(tab)
	return (float64(m1.HeapAlloc) - float64(m0.HeapAlloc)) / float64(len(keys))
}

// BenchmarkEntryMemory reports the heap bytes one connection-table entry
// keeps alive (B/entry), at 100,000 entries: "connection" as the L4 plane
// inserts a TCP or UDP connection (on the shard list only, like
// ip_vs_conn_new for a connection the proxy already holds), "template" as
// a persistence template, which is also in the lookup index
// (ip_vs_ct_in_get), and "finished" as a connection whose owner released
// it (kept compact, pointer-free, for TIME_WAIT and the like). The kernel's counterpart is one struct ip_vs_conn
// per entry from its own slab cache (ip_vs_conn_cachep, ip_vs_conn.c).
func BenchmarkEntryMemory(b *testing.B) {
	const n = 100_000
	keys := make([]Key, n)
	for i := range keys {
		keys[i] = Key{Proto: ProtoTCP,
			Client:  netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), uint16(1024+i%60000)),
			Virtual: ap("10.0.0.1:80")}
	}
	d := sched.NewDest(ap("192.168.1.2:80"), 1, 0, 0)
	for _, kind := range []struct {
		name            string
		hashed, release bool
	}{{"connection", false, false}, {"template", true, false}, {"finished", false, true}} {
		b.Run(kind.name, func(b *testing.B) {
			b.ReportAllocs()
			var per float64
			for b.Loop() {
				per = entryHeapBytes(keys, d, kind.hashed, kind.release)
			}
			b.ReportMetric(per, "B/entry")
		})
	}
}

// BenchmarkLookupMiss is a lookup for a key that is not in the table
// (ip_vs_ct_in_get finding no template: the first connection of a
// persistent client), at 10,000 entries.
func BenchmarkLookupMiss(b *testing.B) {
	tab := New(Options{})
	for i := range 10000 {
		_, _ = tab.Insert(Params{Key: tcpKey(fmt.Sprintf("10.1.%d.%d:%d", i>>8, i&255, 1024+i)), Hashed: true})
	}
	miss := make([]Key, 1024)
	for i := range miss {
		miss[i] = tcpKey(fmt.Sprintf("10.2.%d.%d:%d", i>>8, i&255, 1024+i))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if tab.Lookup(miss[i&(len(miss)-1)]) != nil {
			b.Fatal("hit")
		}
		i++
	}
}
