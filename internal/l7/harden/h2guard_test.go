package harden

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os/exec"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// frames builds a client's HTTP/2 byte stream with x/net's Framer and
// remembers where each frame begins.
type frames struct {
	buf bytes.Buffer
	fr  *http2.Framer
	ops []frameOp
}

// frameOp is one frame of a built stream, for the reference model.
type frameOp struct {
	at  int // offset of the frame in the stream
	typ http2.FrameType
	id  uint32
}

func newFrames() *frames {
	f := &frames{}
	f.fr = http2.NewFramer(&f.buf, nil)
	f.fr.AllowIllegalWrites = true
	return f
}

func (f *frames) add(typ http2.FrameType, id uint32, write func() error) *frames {
	f.ops = append(f.ops, frameOp{at: f.buf.Len(), typ: typ, id: id})
	if err := write(); err != nil {
		panic(err)
	}
	return f
}

var testBlock = requestBlock("/t")

func (f *frames) headers(id uint32) *frames {
	return f.add(http2.FrameHeaders, id, func() error {
		return f.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: testBlock, EndStream: true, EndHeaders: true})
	})
}

func (f *frames) rst(id uint32) *frames {
	return f.add(http2.FrameRSTStream, id, func() error { return f.fr.WriteRSTStream(id, http2.ErrCodeCancel) })
}

func (f *frames) data(id uint32, p []byte) *frames {
	return f.add(http2.FrameData, id, func() error { return f.fr.WriteData(id, false, p) })
}

func (f *frames) settings() *frames {
	return f.add(http2.FrameSettings, 0, func() error {
		return f.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
	})
}

func (f *frames) windowUpdate(id uint32) *frames {
	return f.add(http2.FrameWindowUpdate, id, func() error { return f.fr.WriteWindowUpdate(id, 1<<16) })
}

func (f *frames) ping() *frames {
	return f.add(http2.FramePing, 0, func() error { return f.fr.WritePing(false, [8]byte{1}) })
}

func (f *frames) priority(id uint32) *frames {
	return f.add(http2.FramePriority, id, func() error {
		return f.fr.WritePriority(id, http2.PriorityParam{StreamDep: 0, Weight: 15})
	})
}

// headersSplit opens id with HEADERS and CONTINUATION.
func (f *frames) headersSplit(id uint32) *frames {
	f.add(http2.FrameHeaders, id, func() error {
		return f.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: testBlock[:2], EndStream: true})
	})
	return f.add(http2.FrameContinuation, id, func() error { return f.fr.WriteContinuation(id, true, testBlock[2:]) })
}

// referenceTrip is the rule of h2guard.go written out plainly, with the
// whole stream parsed at once and an explicit set of open streams; every
// reset counts as premature (the clock stands still). It returns the
// offset of the frame that trips it, or -1.
func referenceTrip(ops []frameOp, minStreams int) int {
	open := map[uint32]bool{}
	var maxID uint32
	premature := 0
	for _, op := range ops {
		switch op.typ {
		case http2.FrameHeaders:
			if op.id%2 == 1 && op.id > maxID {
				maxID = op.id
				open[op.id] = true
			}
		case http2.FrameRSTStream:
			if op.id%2 == 1 && op.id <= maxID {
				premature++
				// Envoy: close when more than half of the streams, and
				// at least half of the minimum, were reset prematurely.
				if 2*premature > max(len(open), minStreams) {
					return op.at
				}
			}
		}
	}
	return -1
}

// feedGuard feeds data to g in chunks of size chunk (0: at once) and
// returns the absolute number of bytes released before a trip (-1: none).
func feedGuard(g *h2Guard, data []byte, chunk int) int {
	if chunk <= 0 {
		chunk = len(data)
	}
	for base := 0; base < len(data); base += chunk {
		end := min(base+chunk, len(data))
		if k := g.scan(data[base:end]); k >= 0 {
			return base + k
		}
	}
	return -1
}

func testPolicy(minStreams int) resetPolicy {
	p, _ := newResetPolicy(Options{PrematureResetMinStreams: minStreams})
	stopped := time.Unix(1e9, 0)
	p.now = func() time.Time { return stopped }
	return p
}

// TestH2GuardRule checks the trip point of the frame scanner against the
// reference model, for whole, byte-by-byte and split input.
func TestH2GuardRule(t *testing.T) {
	payloadOfResets := newFrames()
	for id := uint32(1); id < 200; id += 2 {
		payloadOfResets.rst(id)
	}
	for _, tc := range []struct {
		name       string
		minStreams int
		build      func(f *frames)
		trips      bool
		opened     uint32 // streams opened at the trip or the end
	}{
		{
			// Every stream reset at once: the 251st reset is more
			// than half of max(251, 500).
			name: "flood, default minimum", minStreams: DefaultPrematureResetMinStreams,
			build: func(f *frames) {
				f.settings()
				for i := range uint32(2000) {
					f.headers(2*i + 1).rst(2*i + 1)
				}
			},
			trips: true, opened: DefaultPrematureResetMinStreams/2 + 1,
		},
		{
			name: "flood, minimum 100", minStreams: 100,
			build: func(f *frames) {
				for i := range uint32(2000) {
					f.headers(2*i + 1).rst(2*i + 1)
				}
			},
			trips: true, opened: 51,
		},
		{
			// Resets after a batch of opens, as a client cancelling
			// everything in flight: the 251st reset, 400 streams open.
			name: "open 400, then reset them", minStreams: DefaultPrematureResetMinStreams,
			build: func(f *frames) {
				for i := range uint32(400) {
					f.headers(2*i + 1)
				}
				for i := range uint32(400) {
					f.rst(2*i + 1)
				}
			},
			trips: true, opened: 400,
		},
		{
			name: "40% of streams reset: never", minStreams: 100,
			build: func(f *frames) {
				for i := range uint32(5000) {
					f.headers(2*i + 1)
					if i%5 < 2 {
						f.rst(2*i + 1)
					}
				}
			},
			opened: 5000,
		},
		{
			name: "60% of streams reset", minStreams: 100,
			build: func(f *frames) {
				for i := range uint32(5000) {
					f.headers(2*i + 1)
					if i%5 < 3 {
						f.rst(2*i + 1)
					}
				}
			},
			trips: true,
		},
		{
			name: "with other frames between", minStreams: 100,
			build: func(f *frames) {
				f.settings().ping()
				big := bytes.Repeat([]byte{0}, 16<<10)
				for i := range uint32(500) {
					id := 2*i + 1
					f.priority(id+2).headersSplit(id).data(id, big[:i%300]).windowUpdate(id).data(id, big).windowUpdate(0).rst(id)
				}
			},
			trips: true, opened: 51,
		},
		{
			// Frames inside DATA payloads are not frames.
			name: "resets inside DATA payloads", minStreams: 100,
			build: func(f *frames) {
				f.headers(1)
				for range 20 {
					f.data(1, payloadOfResets.buf.Bytes())
				}
			},
			opened: 1,
		},
		{
			// Trailers are HEADERS on an open stream; only one stream
			// opens, and its reset is one of one.
			name: "trailers do not open streams", minStreams: 1,
			build: func(f *frames) {
				f.headers(1)
				for range 1000 {
					f.headers(1)
				}
				f.rst(1)
			},
			opened: 1, trips: true,
		},
		{
			// Resets of idle, even and zero streams are net/http's
			// protocol errors, not premature resets.
			name: "resets of streams never opened", minStreams: 2,
			build: func(f *frames) {
				f.headers(1)
				for i := range uint32(1000) {
					f.rst(2*i + 3).rst(2 * i).rst(0)
				}
				f.headers(2) // even: not a client stream
			},
			opened: 1,
		},
		{
			name: "lower stream ids do not open", minStreams: 2,
			build: func(f *frames) {
				f.headers(101)
				for i := range uint32(50) {
					f.headers(2*i + 1).rst(2*i + 1)
				}
			},
			opened: 1, trips: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFrames()
			tc.build(f)
			data := f.buf.Bytes()
			want := referenceTrip(f.ops, tc.minStreams)
			if (want >= 0) != tc.trips {
				t.Fatalf("reference model trips at %d; the case says trips=%v", want, tc.trips)
			}
			for _, chunk := range []int{0, 1, 7, 9, 10, 4096} {
				g := testPolicy(tc.minStreams).guard(nil)
				got := feedGuard(g, data, chunk)
				if chunk == 0 {
					// At once: exactly the bytes before the tripping
					// frame.
					if got != want {
						t.Fatalf("chunk %d: released %d bytes before the trip; reference %d", chunk, got, want)
					}
				} else if (got < 0) != (want < 0) || got < want || got > want+frameHeaderLen-1 {
					// Split: the tripping frame's header may have begun
					// in a chunk already released.
					t.Fatalf("chunk %d: released %d bytes before the trip; reference frame at %d", chunk, got, want)
				}
				if tc.opened != 0 && g.opened != tc.opened {
					t.Errorf("chunk %d: %d streams opened; want %d", chunk, g.opened, tc.opened)
				}
			}
		})
	}
}

// TestH2GuardLifetime: only resets of young streams count (Envoy
// premature_reset_min_stream_lifetime_seconds). Streams younger than the
// lifetime always count, streams older than twice it never do.
func TestH2GuardLifetime(t *testing.T) {
	const life = time.Second
	type step struct {
		at    time.Duration // clock when the frames are read
		build func(f *frames)
	}
	openN := func(from, n uint32) func(f *frames) {
		return func(f *frames) {
			for i := range n {
				f.headers(2*(from+i) + 1)
			}
		}
	}
	resetN := func(from, n uint32) func(f *frames) {
		return func(f *frames) {
			for i := range n {
				f.rst(2*(from+i) + 1)
			}
		}
	}
	for _, tc := range []struct {
		name      string
		steps     []step
		premature uint32
		trips     bool
	}{
		{"reset within the lifetime", []step{{0, openN(0, 20)}, {life / 2, resetN(0, 20)}}, 11, true},
		{"reset after twice the lifetime", []step{{0, openN(0, 20)}, {2 * life, resetN(0, 20)}}, 0, false},
		// The guarantees hold across slot edges: younger than the
		// lifetime always counts, older than twice it never does.
		{"just under the lifetime, across a slot edge", []step{{life * 9 / 10, openN(0, 20)}, {life * 18 / 10, resetN(0, 20)}}, 11, true},
		{"just over twice the lifetime, traffic between", []step{
			{life / 100, openN(0, 20)}, {life * 15 / 10, openN(20, 5)}, {life*2 + life/50, resetN(0, 20)},
		}, 0, false},
		{"reset long after, with traffic between", []step{
			{0, openN(0, 20)}, {life / 2, openN(20, 5)}, {life, openN(25, 5)}, {3 * life / 2, openN(30, 5)},
			{2 * life, openN(35, 5)}, {5 * life / 2, resetN(0, 20)},
		}, 0, false},
		{"young among old", []step{
			{0, openN(0, 20)}, {3 * life, openN(20, 20)}, {3*life + life/2, func(f *frames) {
				resetN(0, 20)(f)  // old: 3.5 s
				resetN(20, 20)(f) // young: 0.5 s
			}},
		}, 20, false},
		{
			// A streaming call per second, each cancelled 3 s after it
			// began, for 100 s: none is premature.
			"long-lived streams cancelled", func() []step {
				var s []step
				for i := range uint32(100) {
					s = append(s, step{time.Duration(i) * life, func(f *frames) {
						openN(i, 1)(f)
						if i >= 3 {
							resetN(i-3, 1)(f)
						}
					}})
				}
				return s
			}(), 0, false,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var now time.Time
			p := testPolicy(10)
			p.lifetime = life
			p.now = func() time.Time { return now }
			start := time.Unix(1e9, 0)
			now = start
			g := p.guard(nil)
			tripped := false
			for _, st := range tc.steps {
				now = start.Add(st.at)
				f := newFrames()
				st.build(f)
				if g.scan(f.buf.Bytes()) >= 0 {
					tripped = true
					break
				}
			}
			if tripped != tc.trips || g.premature != tc.premature {
				t.Errorf("tripped %v with %d premature resets; want %v, %d", tripped, g.premature, tc.trips, tc.premature)
			}
		})
	}
}

// scriptConn is a net.Conn with scripted input that records its output.
type scriptConn struct {
	loopConn
	mu         sync.Mutex
	in         []byte
	out        bytes.Buffer
	closed     bool
	halfClosed bool
}

func (c *scriptConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.in) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.in)
	c.in = c.in[n:]
	return n, nil
}

func (c *scriptConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Write(p)
}

func (c *scriptConn) CloseWrite() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.halfClosed = true
	return nil
}

func (c *scriptConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func (c *scriptConn) output() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.out.Bytes())
}

// serverFrames is what net/http would write: frames from x/net's Framer.
func serverFrames(write func(fr *http2.Framer)) []byte {
	var b bytes.Buffer
	write(http2.NewFramer(&b, nil))
	return b.Bytes()
}

// TestH2GuardGoAway: a tripped guard sends GOAWAY(ENHANCE_YOUR_CALM) with
// the last stream net/http was given, only between net/http's frames, and
// nothing after it; net/http's reads stop before the tripping frame.
func TestH2GuardGoAway(t *testing.T) {
	settings := serverFrames(func(fr *http2.Framer) { _ = fr.WriteSettings() })
	data := serverFrames(func(fr *http2.Framer) { _ = fr.WriteData(1, false, bytes.Repeat([]byte("d"), 100)) })
	ownGoAway := serverFrames(func(fr *http2.Framer) { _ = fr.WriteGoAway(7, http2.ErrCodeNo, nil) })
	for _, tc := range []struct {
		name   string
		before [][]byte // server writes before the trip
		after  [][]byte // server writes while the trip waits
		goAway bool
		frames []http2.FrameType // what the client reads
	}{
		{"at a frame boundary", [][]byte{settings}, nil, true,
			[]http2.FrameType{http2.FrameSettings, http2.FrameGoAway}},
		{"in the middle of a frame", [][]byte{settings, data[:5]}, [][]byte{data[5:50], data[50:]}, true,
			[]http2.FrameType{http2.FrameSettings, http2.FrameData, http2.FrameGoAway}},
		{"before the server's SETTINGS", nil, [][]byte{settings}, true,
			[]http2.FrameType{http2.FrameSettings, http2.FrameGoAway}},
		{"after the server's own GOAWAY", [][]byte{settings, ownGoAway}, nil, false,
			[]http2.FrameType{http2.FrameSettings, http2.FrameGoAway}},
		{"no frame boundary in time", [][]byte{settings, data[:5]}, nil, false,
			[]http2.FrameType{http2.FrameSettings}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			flood := newFrames()
			for i := range uint32(100) {
				flood.headers(2*i + 1).rst(2*i + 1)
			}
			want := referenceTrip(flood.ops, 10)
			sc := &scriptConn{in: flood.buf.Bytes()}
			p := testPolicy(10)
			p.goAwayWait = 100 * time.Millisecond
			g := p.guard(sc)
			for _, w := range tc.before {
				if _, err := g.Write(w); err != nil {
					t.Fatal(err)
				}
			}
			type result struct {
				n   int
				err error
			}
			res := make(chan result, 1)
			go func() {
				buf := make([]byte, 64<<10)
				n, err := g.Read(buf)
				res <- result{n, err}
			}()
			if len(tc.after) > 0 {
				// The trip waits for net/http's next writes.
				for !g.tripped.Load() {
					time.Sleep(time.Millisecond)
				}
				for _, w := range tc.after {
					if _, err := g.Write(w); err != nil {
						t.Fatalf("write while the trip waits: %v", err)
					}
				}
			}
			r := <-res
			if r.n != want || r.err != nil {
				t.Fatalf("first read: %d bytes, %v; want the %d bytes before the tripping frame", r.n, r.err, want)
			}
			if _, err := g.Read(make([]byte, 10)); !errors.Is(err, errPrematureResets) {
				t.Errorf("read after the trip: %v; want errPrematureResets", err)
			}
			if _, err := g.Write(settings); err == nil {
				t.Error("write after the trip succeeded")
			}
			fr := http2.NewFramer(nil, bytes.NewReader(sc.output()))
			var got []http2.FrameType
			var last http2.Frame
			for {
				f, err := fr.ReadFrame()
				if err != nil {
					break
				}
				got = append(got, f.Header().Type)
				last = f
			}
			if !equalTypes(got, tc.frames) {
				t.Fatalf("client read frames %v; want %v", got, tc.frames)
			}
			if ga, ok := last.(*http2.GoAwayFrame); ok && tc.goAway {
				if ga.ErrCode != http2.ErrCodeEnhanceYourCalm || ga.LastStreamID != g.maxID || string(ga.DebugData()) != goAwayDebug {
					t.Errorf("GOAWAY %v last %d %q; want ENHANCE_YOUR_CALM, last %d", ga.ErrCode, ga.LastStreamID, ga.DebugData(), g.maxID)
				}
				// The last stream given to net/http is the one whose
				// reset tripped the guard.
				for _, op := range flood.ops {
					if op.at == want && ga.LastStreamID != op.id {
						t.Errorf("GOAWAY last stream %d; the reset of %d tripped the guard", ga.LastStreamID, op.id)
					}
				}
			}
			// net/http closes; the guard lingers, then closes.
			g.finish()
			sc.mu.Lock()
			closed, half := sc.closed, sc.halfClosed
			sc.mu.Unlock()
			if !closed || !half {
				t.Errorf("after finish: closed %v, half-closed %v; want both", closed, half)
			}
		})
	}
}

// TestH2GuardBlockedWriter: when net/http's write is stuck on a client
// that does not read, the trip ends it within the wait instead of holding
// the connection for the write timeout; there is no GOAWAY.
func TestH2GuardBlockedWriter(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	p := testPolicy(10)
	p.goAwayWait = 100 * time.Millisecond
	g := p.guard(server)
	flood := newFrames()
	for i := range uint32(20) {
		flood.headers(2*i + 1).rst(2*i + 1)
	}
	go func() { _, _ = client.Write(flood.buf.Bytes()) }()
	wrote := make(chan error, 1)
	go func() {
		// The client never reads: a pipe write blocks.
		_, err := g.Write(serverFrames(func(fr *http2.Framer) { _ = fr.WriteSettings() }))
		wrote <- err
	}()
	time.Sleep(20 * time.Millisecond)
	start := time.Now()
	var err error
	buf := make([]byte, 64<<10)
	for err == nil {
		_, err = g.Read(buf)
	}
	if !errors.Is(err, errPrematureResets) {
		t.Fatalf("read: %v; want errPrematureResets", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("trip took %v with a blocked writer; want about %v", took, p.goAwayWait)
	}
	if err := <-wrote; err == nil {
		t.Error("the blocked write succeeded")
	}
	g.wmu.Lock()
	broken := g.wbroken
	g.wmu.Unlock()
	if !broken {
		t.Error("output not marked broken: a GOAWAY could follow a cut frame")
	}
}

func equalTypes(a, b []http2.FrameType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestH2GuardOff: PrematureResetMinStreams < 0 leaves connections as
// they are.
func TestH2GuardOff(t *testing.T) {
	c := &scriptConn{}
	if got := GuardH2(c, Options{PrematureResetMinStreams: -1}); got != net.Conn(c) {
		t.Errorf("GuardH2 with the guard off wrapped the connection: %T", got)
	}
	if _, on := newResetPolicy(Options{PrematureResetMinStreams: -1}); on {
		t.Error("policy on with PrematureResetMinStreams -1")
	}
	p, on := newResetPolicy(Options{})
	if !on || p.minStreams != DefaultPrematureResetMinStreams || p.lifetime != DefaultPrematureResetLifetime {
		t.Errorf("zero Options: %+v on=%v; want the defaults", p, on)
	}
}

// FuzzH2Guard: the scanner never panics, trips exactly where the
// reference model does when fed the stream at once, and within one frame
// header of it however the stream is split.
func FuzzH2Guard(f *testing.F) {
	flood := newFrames()
	for i := range uint32(30) {
		flood.headers(2*i + 1).rst(2*i + 1)
	}
	f.Add(flood.buf.Bytes(), uint8(5))
	mixed := newFrames().settings().headersSplit(1).data(1, []byte("abc")).rst(1).headers(3).priority(5).rst(5).rst(3)
	f.Add(mixed.buf.Bytes(), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		const minStreams = 4
		// Reference: parse whole frames in order.
		var ops []frameOp
		for at := 0; at+frameHeaderLen <= len(data); {
			h := data[at : at+frameHeaderLen]
			ops = append(ops, frameOp{at: at, typ: http2.FrameType(h[3]), id: streamID(h)})
			at += frameHeaderLen + (int(h[0])<<16 | int(h[1])<<8 | int(h[2]))
		}
		want := referenceTrip(ops, minStreams)
		if got := feedGuard(testPolicy(minStreams).guard(nil), data, 0); got != want {
			t.Fatalf("at once: released %d before the trip; reference %d", got, want)
		}
		chunk := int(split%17) + 1
		got := feedGuard(testPolicy(minStreams).guard(nil), data, chunk)
		if (got < 0) != (want < 0) || got < want || got > want+frameHeaderLen-1 {
			t.Fatalf("chunks of %d: released %d before the trip; reference frame at %d", chunk, got, want)
		}
	})
}

// TestH2ResetGuardClients: legitimate clients, with Go's HTTP/2 client
// over h2c and TLS, keep their one connection (no GOAWAY, no close), with
// a minimum stricter than the default; the control cases show the same
// harness does trip the guard. MaxRequestsPerConn is off so that only
// the guard could end a connection.
func TestH2ResetGuardClients(t *testing.T) {
	const lifetime = 50 * time.Millisecond
	opt := Options{MaxRequestsPerConn: -1, PrematureResetMinStreams: 100, PrematureResetLifetime: lifetime}
	const never = -1
	for _, tc := range []struct {
		name    string
		path    string
		n       int
		workers int
		// cancelAt: 0 cancels when the request is sent, > 0 that long
		// after the response began; never: not cancelled.
		cancelAt func(i int) time.Duration
		trips    bool
	}{
		// A browser cancels some requests (navigation, aborted fetches):
		// 2 in 5 here, each as soon as it is sent.
		{"browser cancelling 40%", "/", 600, 8, func(i int) time.Duration {
			if i%5 < 2 {
				return 0
			}
			return never
		}, false},
		{"control: every request cancelled", "/", 600, 8, func(int) time.Duration { return 0 }, true},
		// gRPC-like unary calls: many concurrent streams with bodies,
		// no resets.
		{"gRPC-like, 50 concurrent streams", "/grpc", 2000, 50, func(int) time.Duration { return never }, false},
		// Streaming calls that run for a while and are then cancelled
		// by the client: not premature (3 lifetimes old).
		{"streaming calls cancelled late", "/stream", 300, 50, func(int) time.Duration { return 3 * lifetime }, false},
		{"control: streaming calls cancelled at once", "/stream", 300, 50, func(int) time.Duration { return time.Nanosecond }, true},
	} {
		for _, overTLS := range []bool{false, true} {
			name := tc.name + "/h2c"
			if overTLS {
				name = tc.name + "/tls"
			}
			t.Run(name, func(t *testing.T) {
				s := startH2With(t, h2Setup{handlerD: 5 * time.Millisecond, tls: overTLS, opt: opt})
				tr := s.transport()
				defer tr.CloseIdleConnections()
				var conns, failed atomic.Int64
				do := func(path string, cancelAt time.Duration) {
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					trace := &httptrace.ClientTrace{
						GotConn: func(ci httptrace.GotConnInfo) {
							if !ci.Reused {
								conns.Add(1)
							}
						},
						WroteHeaders: func() {
							if cancelAt == 0 {
								cancel()
							}
						},
					}
					ctx = httptrace.WithClientTrace(ctx, trace)
					var body io.Reader
					if path == "/grpc" {
						body = bytes.NewReader(bytes.Repeat([]byte("m"), 1024))
					}
					req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.url(path), body)
					res, err := tr.RoundTrip(req)
					switch {
					case cancelAt == 0:
						if err == nil {
							res.Body.Close()
						}
					case cancelAt > 0:
						if err != nil {
							failed.Add(1)
							return
						}
						time.Sleep(cancelAt)
						cancel()
						_, _ = io.Copy(io.Discard, res.Body)
						res.Body.Close()
					default:
						if err != nil {
							failed.Add(1)
							return
						}
						b, _ := io.ReadAll(res.Body)
						res.Body.Close()
						if res.StatusCode != 200 || string(b) != "ok" {
							failed.Add(1)
						}
					}
				}
				// One request first, so that every worker shares its
				// connection.
				do("/benign", never)
				var wg sync.WaitGroup
				for w := range tc.workers {
					wg.Go(func() {
						for i := w; i < tc.n; i += tc.workers {
							do(tc.path, tc.cancelAt(i))
						}
					})
				}
				wg.Wait()
				if tc.trips {
					if conns.Load() < 2 {
						t.Errorf("%d connections: the guard never closed one", conns.Load())
					}
				} else if conns.Load() != 1 || failed.Load() != 0 {
					t.Errorf("%d connections, %d requests failed; want 1 connection and no failures", conns.Load(), failed.Load())
				}
				t.Logf("%d requests, %d connections, %d failed, %d handlers", tc.n+1, conns.Load(), failed.Load(), s.calls.Load())
			})
		}
	}
}

// TestH2ResetGuardH2load: h2load (nghttp2, reliability.md T8's load
// generator) sends 5,000 requests, 100 at a time, on one connection over
// h2c and TLS: all succeed, none is cut off by the guard.
func TestH2ResetGuardH2load(t *testing.T) {
	bin, err := exec.LookPath("h2load")
	if err != nil {
		t.Skip("h2load (nghttp2-client) not installed")
	}
	for _, overTLS := range []bool{false, true} {
		s := startH2With(t, h2Setup{tls: overTLS, opt: Options{MaxRequestsPerConn: -1, PrematureResetMinStreams: 100}})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := exec.CommandContext(ctx, bin, "-n", "5000", "-c", "1", "-m", "100", s.url("/")).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("h2load: %v\n%s", err, out)
		}
		var total, started, done, succeeded, failed, errored int
		line := regexp.MustCompile(`(?m)^requests: .*$`).Find(out)
		if _, err := fmt.Sscanf(string(line), "requests: %d total, %d started, %d done, %d succeeded, %d failed, %d errored",
			&total, &started, &done, &succeeded, &failed, &errored); err != nil {
			t.Fatalf("h2load output: %v\n%s", err, out)
		}
		if succeeded != 5000 || failed != 0 || errored != 0 {
			t.Errorf("tls=%v: h2load %d succeeded, %d failed, %d errored; want 5000, 0, 0\n%s", overTLS, succeeded, failed, errored, out)
		}
		s.counted.mu.Lock()
		conns := len(s.counted.conns)
		s.counted.mu.Unlock()
		if conns != 1 {
			t.Errorf("tls=%v: %d connections; want 1", overTLS, conns)
		}
		t.Logf("tls=%v: %s", overTLS, line)
	}
}

// TestGuardH2ServeConn: GuardH2 in front of x/net's Server.ServeConn (the
// h2c Upgrade path) stops a rapid reset with GOAWAY ENHANCE_YOUR_CALM.
func TestGuardH2ServeConn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	h2s := &http2.Server{MaxConcurrentStreams: 100}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go h2s.ServeConn(GuardH2(c, Options{PrematureResetMinStreams: 100}), &http2.ServeConnOpts{Handler: h})
		}
	}()
	p := dialH2(t, &h2Server{addr: ln.Addr().String()})
	sent := rapidReset(t, p, 20000)
	waitDone(t, p)
	g := p.goAway()
	if g == nil || g.ErrCode != http2.ErrCodeEnhanceYourCalm {
		t.Fatalf("after %d pairs: GOAWAY %+v; want ENHANCE_YOUR_CALM", sent, g)
	}
	// 51 streams reset: more than half of the minimum of 100.
	if g.LastStreamID != 2*51-1 {
		t.Errorf("GOAWAY last stream %d; want %d", g.LastStreamID, 2*51-1)
	}
}

// clientStream is what a client sends for n requests: HEADERS, 1 KiB of
// DATA, WINDOW_UPDATEs, and a reset of every fifth stream.
func clientStream(n int) []byte {
	f := newFrames().settings()
	body := bytes.Repeat([]byte("b"), 1024)
	for i := range uint32(n) {
		id := 2*i + 1
		f.add(http2.FrameHeaders, id, func() error {
			return f.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: testBlock, EndHeaders: true})
		})
		f.data(id, body).windowUpdate(0)
		if i%5 == 0 {
			f.rst(id)
		}
	}
	return f.buf.Bytes()
}

// BenchmarkH2Guard: what the guard adds per frame on each side, reading
// as Go's HTTP/2 server does (a 9-byte header, then the payload) and in
// 16 KiB reads, and writing frames. Nothing is allocated.
func BenchmarkH2Guard(b *testing.B) {
	const requests = 100
	stream := clientStream(requests)
	nframes := len(newFramesCount(stream))
	for _, guarded := range []bool{false, true} {
		name := "bare"
		if guarded {
			name = "guarded"
		}
		conn := func() (net.Conn, *h2Guard) {
			lc := &loopConn{req: stream}
			if !guarded {
				return lc, nil
			}
			p, _ := newResetPolicy(Options{PrematureResetMinStreams: 1 << 30})
			g := p.guard(lc)
			return g, g
		}
		b.Run(name+"/read frame by frame", func(b *testing.B) {
			c, g := conn()
			var hdr [frameHeaderLen]byte
			payload := make([]byte, 16<<10)
			b.ReportAllocs()
			for b.Loop() {
				for range nframes {
					if _, err := io.ReadFull(c, hdr[:]); err != nil {
						b.Fatal(err)
					}
					n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
					if _, err := io.ReadFull(c, payload[:n]); err != nil {
						b.Fatal(err)
					}
				}
				if g != nil {
					// The stream replays: let its streams be new again.
					g.maxID = 0
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*nframes), "ns/frame")
		})
		b.Run(name+"/read 16KiB", func(b *testing.B) {
			c, g := conn()
			buf := make([]byte, 16<<10)
			b.SetBytes(int64(len(stream)))
			b.ReportAllocs()
			for b.Loop() {
				for n := 0; n < len(stream); {
					k, err := c.Read(buf[:min(len(buf), len(stream)-n)])
					if err != nil {
						b.Fatal(err)
					}
					n += k
				}
				if g != nil {
					g.maxID = 0
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*nframes), "ns/frame")
		})
		b.Run(name+"/write", func(b *testing.B) {
			c, _ := conn()
			// Responses: HEADERS and DATA per request, written whole.
			resp := serverFrames(func(fr *http2.Framer) {
				for i := range uint32(requests) {
					_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 2*i + 1, BlockFragment: testBlock, EndHeaders: true})
					_ = fr.WriteData(2*i+1, true, bytes.Repeat([]byte("r"), 1024))
				}
			})
			frames := splitFrames(resp)
			b.ReportAllocs()
			for b.Loop() {
				for _, f := range frames {
					if _, err := c.Write(f); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(frames)), "ns/frame")
		})
	}
}

// newFramesCount lists the frame offsets of a stream.
func newFramesCount(b []byte) []int {
	var at []int
	for i := 0; i+frameHeaderLen <= len(b); i += frameHeaderLen + (int(b[i])<<16 | int(b[i+1])<<8 | int(b[i+2])) {
		at = append(at, i)
	}
	return at
}

// splitFrames cuts a stream into its frames.
func splitFrames(b []byte) [][]byte {
	at := append(newFramesCount(b), len(b))
	var out [][]byte
	for i := 0; i+1 < len(at); i++ {
		out = append(out, b[at[i]:at[i+1]])
	}
	return out
}

// BenchmarkH2Server puts the guard's cost in context: HTTP/2 GETs over
// loopback (h2c, Go's client) to the hardened server, guard off and on.
func BenchmarkH2Server(b *testing.B) {
	for _, guard := range []bool{false, true} {
		name := "guard off"
		opt := Options{MaxRequestsPerConn: -1, PrematureResetMinStreams: -1}
		if guard {
			name = "guard on"
			opt.PrematureResetMinStreams = 0
		}
		b.Run(name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			var protos http.Protocols
			protos.SetUnencryptedHTTP2(true)
			srv := &http.Server{Protocols: &protos, ErrorLog: quietLog(), Handler: Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, "ok")
			}), opt)}
			ConfigureServer(srv, config.HTTPLimits{}, opt)
			go func() { _ = srv.Serve(Listener(ln, config.HTTPLimits{})) }()
			defer srv.Close()
			tr := (&h2Server{addr: ln.Addr().String()}).transport()
			defer tr.CloseIdleConnections()
			url := "http://" + ln.Addr().String() + "/"
			b.ReportAllocs()
			for b.Loop() {
				res, err := tr.RoundTrip(getRequest(url))
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		})
	}
}

func getRequest(url string) *http.Request {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	return req
}
