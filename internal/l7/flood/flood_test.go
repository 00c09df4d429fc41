package flood

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

var (
	a1 = netip.MustParseAddr("192.0.2.1")
	a2 = netip.MustParseAddr("192.0.2.2")
)

// TestTokenBucket: ConnRate per second with ConnBurst, refilled with
// time.
func TestTokenBucket(t *testing.T) {
	c := &clock{time.Unix(1000, 0)}
	l := New(Options{ConnRate: 2, ConnBurst: 3, Now: c.now})
	var got []Reason
	for range 5 {
		got = append(got, l.Admit(a1))
	}
	want := []Reason{None, None, None, Rate, Rate}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if l.Admit(a2) != None {
		t.Error("another source was limited")
	}
	c.t = c.t.Add(500 * time.Millisecond) // one token back
	if l.Admit(a1) != None || l.Admit(a1) != Rate {
		t.Error("refill wrong")
	}
	c.t = c.t.Add(time.Hour) // capped at the burst
	n := 0
	for l.Admit(a1) == None {
		n++
	}
	if n != 3 {
		t.Errorf("after an hour %d admitted, want the burst 3", n)
	}
	if st := l.Stats(); st.Rate != 4 || st.Sources != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestConcurrentCap(t *testing.T) {
	l := New(Options{MaxConnsPerSource: 2})
	if l.Admit(a1) != None || l.Admit(a1) != None || l.Admit(a1) != Conns {
		t.Fatal("cap not applied")
	}
	l.Release(a1)
	if l.Admit(a1) != None {
		t.Fatal("released slot not reusable")
	}
	// IPv6 sources are grouped by /64.
	v6a := netip.MustParseAddr("2001:db8::1")
	v6b := netip.MustParseAddr("2001:db8::ffff:2")
	v6c := netip.MustParseAddr("2001:db8:0:1::1")
	if l.Admit(v6a) != None || l.Admit(v6b) != None || l.Admit(v6a) != Conns || l.Admit(v6c) != None {
		t.Error("IPv6 /64 grouping")
	}
	// Exempt networks are never limited.
	ex := New(Options{MaxConnsPerSource: 1, ConnRate: 1, Exempt: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}})
	for range 10 {
		if ex.Admit(a1) != None {
			t.Fatal("exempt source limited")
		}
	}
	if st := l.Stats(); st.Conns != 2 || st.Active != 5 {
		t.Errorf("stats %+v", st)
	}
}

// TestBoundedSources: the table keeps MaxSources, forgetting the least
// recently seen idle source first.
func TestBoundedSources(t *testing.T) {
	l := New(Options{MaxConnsPerSource: 1, MaxSources: 4})
	busy := netip.MustParseAddr("10.0.0.100")
	l.Admit(busy) // oldest, but holds a connection
	for i := range 10 {
		l.Admit(netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}))
		l.Release(netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}))
	}
	if st := l.Stats(); st.Sources != 4 {
		t.Fatalf("sources %d", st.Sources)
	}
	if l.Admit(busy) != Conns {
		t.Error("the busy source was forgotten before idle ones")
	}
}

// TestListenerFirstByte: through real sockets, a connection that sends
// nothing is closed at the first-byte timeout, one that talks is kept,
// and a source over its cap is reset at once.
func TestListenerFirstByte(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(Options{MaxConnsPerSource: 2, FirstByteTimeout: 150 * time.Millisecond})
	ln := l.Listener(inner)
	defer ln.Close()
	got := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			got <- c
			go func() { _, _ = io.Copy(c, c) }()
		}
	}()
	idle, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	talk, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer talk.Close()
	<-got
	<-got
	if _, err := talk.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	// A third connection from 127.0.0.1 is over the cap: reset, never
	// accepted.
	third, err := net.Dial("tcp", inner.Addr().String())
	if err == nil {
		_ = third.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := third.Read(make([]byte, 1)); err == nil {
			t.Error("third connection was served")
		}
		third.Close()
	}
	start := time.Now()
	_ = idle.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err = idle.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("idle connection not closed: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("closed after %v", d)
	}
	_ = talk.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(talk, buf); err != nil || string(buf) != "hi" {
		t.Errorf("talking connection: %q %v", buf, err)
	}
	st := l.Stats()
	if st.FirstByte != 1 || st.Conns != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestSynCookies(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tcp_syncookies")
	for _, v := range []string{"0", "1", "2"} {
		if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if n, err := SynCookies(p); err != nil || v != string(rune('0'+n)) {
			t.Errorf("%s: %d %v", v, n, err)
		}
	}
	if _, err := SynCookies(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file")
	}
}
