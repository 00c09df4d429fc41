package limit

import (
	"fmt"
	"testing"
)

func mustConnZone(t testing.TB, size int64) *ConnZone {
	t.Helper()
	z, err := NewConnZone("c", size)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// TestLimitConn: ngx_http_limit_conn_handler: conn requests per key at
// once, the next rejected, a slot freed when a request ends, the key
// dropped when its count reaches zero.
func TestLimitConn(t *testing.T) {
	z := mustConnZone(t, 0)
	l := []ConnLimit{{Zone: z, Conn: 2}}
	k := []string{"a"}
	var h1, h2, h3 ConnHold
	if AcquireConn(&h1, l, k) != nil || AcquireConn(&h2, l, k) != nil {
		t.Fatal("first two rejected")
	}
	if AcquireConn(&h3, l, k) != z {
		t.Fatal("third accepted")
	}
	if AcquireConn(&h3, l, []string{"b"}) != nil {
		t.Fatal("other key rejected")
	}
	if z.Active("a") != 2 || z.Active("b") != 1 {
		t.Fatalf("active a=%d b=%d", z.Active("a"), z.Active("b"))
	}
	h1.Release()
	h1.Release() // idempotent
	var h4 ConnHold
	if AcquireConn(&h4, l, k) != nil {
		t.Fatal("freed slot not reused")
	}
	h2.Release()
	h3.Release()
	h4.Release()
	if st := z.Stats(); st.Entries != 0 || st.Bytes != 0 || st.Rejected != 1 || st.Passed != 4 {
		t.Errorf("stats %+v", st)
	}
	// Empty and over-long keys are not limited.
	var h5 ConnHold
	for range 5 {
		if AcquireConn(&h5, l, []string{""}) != nil {
			t.Fatal("empty key limited")
		}
	}
	if h5.n != 0 {
		t.Errorf("empty key held %d", h5.n)
	}
}

// TestLimitConnMulti: a rejection by a later limit gives back what the
// earlier ones took (ngx_http_limit_conn_cleanup_all).
func TestLimitConnMulti(t *testing.T) {
	a := mustConnZone(t, 0)
	b := mustConnZone(t, 0)
	l := []ConnLimit{{Zone: a, Conn: 10}, {Zone: b, Conn: 1}}
	k := []string{"x", "x"}
	var h1, h2 ConnHold
	if AcquireConn(&h1, l, k) != nil {
		t.Fatal("first rejected")
	}
	if AcquireConn(&h2, l, k) != b {
		t.Fatal("second accepted")
	}
	if a.Active("x") != 1 {
		t.Errorf("a holds %d, want 1", a.Active("x"))
	}
	// More limits than the hold's inline slots.
	zs := make([]ConnLimit, 6)
	keys := make([]string, 6)
	for i := range zs {
		zs[i] = ConnLimit{Zone: mustConnZone(t, 0), Conn: 1}
		keys[i] = "k"
	}
	var h3 ConnHold
	if AcquireConn(&h3, zs, keys) != nil {
		t.Fatal("rejected")
	}
	h3.Release()
	for i, l := range zs {
		if l.Zone.Active("k") != 0 {
			t.Errorf("zone %d still held", i)
		}
	}
}

// TestLimitConnZoneFull: a zone of 32 KiB holds 512 keys of 4 bytes
// (36+4 rounded to 64); a new key beyond that is rejected, as nginx's
// failed slab allocation is.
func TestLimitConnZoneFull(t *testing.T) {
	z := mustConnZone(t, MinZoneSize)
	l := []ConnLimit{{Zone: z, Conn: 1}}
	holds := make([]ConnHold, 513)
	for i := range 512 {
		if AcquireConn(&holds[i], l, []string{fmt.Sprintf("%04d", i)}) != nil {
			t.Fatalf("key %d rejected", i)
		}
	}
	if AcquireConn(&holds[512], l, []string{"more"}) != z {
		t.Fatal("full zone accepted a key")
	}
	holds[0].Release()
	if AcquireConn(&holds[512], l, []string{"more"}) != nil {
		t.Fatal("freed room not reused")
	}
}
