package sched

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
)

func benchKeys() []Key {
	ks := make([]Key, 64)
	for i := range ks {
		ks[i] = Key{
			Src:     netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}),
			SrcPort: uint16(30000 + i),
			Dst:     netip.AddrFrom4([4]byte{203, 0, 113, byte(i % 16)}),
			DstPort: 80,
		}
	}
	return ks
}

// tenDests builds a service with ten dests of weights 1..10 and some
// connections, and warms lblc/lblcr caches for the keys.
func tenDests(t testing.TB, name string) (*Service, []Key) {
	s, err := NewService(name, FlagSched1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		d, err := s.AddDest(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), 80), int32(i+1), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		conns(d, i%3, i)
	}
	ks := benchKeys()
	for i := range ks {
		s.Schedule(&ks[i])
	}
	return s, ks
}

func TestScheduleDoesNotAllocate(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			s, ks := tenDests(t, name)
			i := 0
			allocs := testing.AllocsPerRun(500, func() {
				if s.Schedule(&ks[i%len(ks)]) == nil {
					t.Fatal("no pick")
				}
				i++
			})
			if allocs != 0 {
				t.Fatalf("%s: %.2f allocs per pick, want 0", name, allocs)
			}
		})
	}
}

func BenchmarkSchedule(b *testing.B) {
	for _, name := range Names() {
		b.Run(name, func(b *testing.B) {
			s, ks := tenDests(b, name)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				s.Schedule(&ks[i&63])
				i++
			}
		})
	}
}

func BenchmarkMHRebuild(b *testing.B) {
	ds := make([]*Dest, 100)
	for i := range ds {
		ds[i] = NewDest(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 80), int32(1+i%5), 0, 0)
	}
	b.ReportAllocs()
	for b.Loop() {
		mhBuild(ds)
	}
}

// Many goroutines schedule, bind and unbind while another one adds, edits
// and deletes dests; run with -race. Every pick must be a dest that was in
// the service (current or just removed) and never one with weight 0 at the
// time it was chosen is not checkable under concurrent edits, so this test
// checks memory safety, termination and that picks are known dests.
func TestConcurrentScheduleWhileChanging(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			s, err := NewService(name, FlagSched1, Options{})
			if err != nil {
				t.Fatal(err)
			}
			addrs := make([]netip.AddrPort, 8)
			known := map[*Dest]bool{}
			var knownMu sync.Mutex
			for i := range addrs {
				addrs[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 9, 0, byte(i + 1)}), 80)
				if i < 4 {
					d, err := s.AddDest(addrs[i], int32(i+1), 50, 0)
					if err != nil {
						t.Fatal(err)
					}
					known[d] = true
				}
			}
			ks := benchKeys()
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Go(func() {
					for i := range 1500 {
						if d := s.Schedule(&ks[(i+g)%len(ks)]); d != nil {
							d.Bind(false)
							d.Unbind(false, false)
							knownMu.Lock()
							ok := known[d]
							knownMu.Unlock()
							if !ok {
								t.Errorf("picked unknown dest %v", d.Addr)
								return
							}
						}
					}
				})
			}
			wg.Go(func() {
				r := rand.New(rand.NewPCG(1, 2))
				for range 300 {
					a := addrs[r.IntN(len(addrs))]
					switch r.IntN(3) {
					case 0:
						knownMu.Lock()
						if d, err := s.AddDest(a, int32(r.IntN(4)), 50, 0); err == nil {
							known[d] = true
						}
						knownMu.Unlock()
					case 1:
						_ = s.EditDest(a, int32(r.IntN(4)), 50, 0)
					case 2:
						_ = s.DelDest(a)
					}
				}
			})
			wg.Wait()
		})
	}
}
