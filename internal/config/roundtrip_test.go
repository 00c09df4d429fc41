package config

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/sched"
)

// checkRoundTrip asserts that Marshal and Parse are inverse on c: the YAML
// parses back to the same model, without errors, and marshals to the same
// bytes again.
func checkRoundTrip(t *testing.T, file string, c *Config) {
	t.Helper()
	out, err := Marshal(c)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	back, ds := Parse(file, out)
	if err := ds.Err(); err != nil {
		t.Fatalf("Parse(Marshal(c)) failed:\n%v\n--- yaml\n%s", err, out)
	}
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("Parse(Marshal(c)) differs from c\n--- c\n%#v\n--- back\n%#v\n--- yaml\n%s", c, back, out)
	}
	again, err := Marshal(back)
	if err != nil {
		t.Fatalf("Marshal again: %v", err)
	}
	if !bytes.Equal(again, out) {
		t.Fatalf("Marshal is not stable:\n--- first\n%s--- second\n%s", out, again)
	}
}

func TestRoundTripGolden(t *testing.T) {
	n := 0
	for _, g := range goldenFiles(t) {
		c, ds := Parse(g.Name, g.Input)
		if ds.Err() != nil {
			continue
		}
		n++
		t.Run(g.Name, func(t *testing.T) { checkRoundTrip(t, g.Name, c) })
	}
	if n < 5 {
		t.Fatalf("only %d golden inputs are valid configs; the round trip needs more", n)
	}
}

func TestRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(0x46554c, 0x4352554d))
	for i := range 300 {
		c := randomConfig(r)
		if err := Validate(c).Err(); err != nil {
			t.Fatalf("model %d: the generator made an invalid config:\n%v", i, err)
		}
		t.Run(fmt.Sprint(i), func(t *testing.T) { checkRoundTrip(t, c.Source, c) })
	}
}

// TestMarshalNormalises checks that Marshal writes the normalised form of an
// unnormalised model without touching the model.
func TestMarshalNormalises(t *testing.T) {
	c := validModel()
	c.Services[0].Scheduler = ""
	c.Services[0].Reals[0].Forward = ""
	out, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	back, ds := Parse("", out)
	if err := ds.Err(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if back.Services[0].Scheduler != "wlc" || back.Services[0].Reals[0].Forward != Masq {
		t.Errorf("Marshal did not normalise: %s", out)
	}
	if c.Services[0].Scheduler != "" {
		t.Error("Marshal modified its argument")
	}
	if _, err := Marshal(nil); err == nil {
		t.Error("Marshal(nil) did not fail")
	}
}

// randomConfig builds a valid, normalised model that exercises every field.
func randomConfig(r *rand.Rand) *Config {
	c := &Config{Source: "random.yaml"}
	switch r.IntN(3) {
	case 0:
		c.Admin.Socket = DefaultAdminSocket
	case 1:
		c.Admin.Socket = "/tmp/fulcrum test/admin.sock"
	}
	if r.IntN(3) == 0 {
		c.Admin.Listen = fmt.Sprintf("127.0.0.1:%d", 1+r.IntN(65535))
		c.Admin.TokenFile = "/etc/fulcrum/token: yes"
	}
	c.Timeouts = Timeouts{TCP: randSeconds(r), TCPFin: randSeconds(r), UDP: randSeconds(r)}
	names := sched.Names()
	for i := range r.IntN(6) {
		c.Services = append(c.Services, randomService(r, i, names))
	}
	for i := range c.Services {
		randomHealth(r, &c.Services[i])
	}
	randomGlobal(r, c)
	randomVRRP(r, c)
	randomHTTP(r, c)
	if r.IntN(2) == 0 {
		c.Demo = &Demo{}
		for i := range r.IntN(4) {
			p := []Protocol{TCP, UDP}[r.IntN(2)]
			c.Demo.Backends = append(c.Demo.Backends, DemoBackend{
				Name:     fmt.Sprintf("backend %d: \"%c\"", i, 'a'+rune(r.IntN(26))),
				Protocol: p,
				Address:  netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(9000+i)),
			})
		}
	}
	return c
}

func randSeconds(r *rand.Rand) time.Duration {
	return time.Duration(1+r.Int64N(int64(MaxTimeout/time.Second))) * time.Second
}

func randomService(r *rand.Rand, i int, names []string) Service {
	var s Service
	v6 := r.IntN(3) == 0
	var port uint16
	if r.IntN(4) == 0 {
		s.FWMark = uint32(1 + i + r.IntN(1000)*10)
		s.IPv6 = v6
	} else {
		s.Protocol = []Protocol{TCP, UDP}[r.IntN(2)]
		port = uint16(r.IntN(65536))
		s.Address = netip.AddrPortFrom(randomAddr(r, v6, byte(i)), port)
	}
	s.Scheduler = names[r.IntN(len(names))]
	flags := []string{"flag-1", "flag-2", "flag-3"}
	switch s.Scheduler {
	case "sh":
		flags = append(flags, "sh-fallback", "sh-port")
	case "mh":
		flags = append(flags, "mh-fallback", "mh-port")
	}
	r.Shuffle(len(flags), func(a, b int) { flags[a], flags[b] = flags[b], flags[a] })
	s.SchedFlags = flags[:r.IntN(3)]
	if len(s.SchedFlags) == 0 {
		s.SchedFlags = nil
	}
	if port == 0 && s.FWMark == 0 || r.IntN(3) == 0 {
		p := &Persistence{Timeout: randSeconds(r), PrefixBits: r.IntN(33)}
		if s.IsIPv6() {
			p.PrefixBits = 1 + r.IntN(128)
		}
		s.Persistence = p
	}
	s.OnePacket = (s.Protocol == UDP || s.FWMark != 0) && r.IntN(2) == 0
	switch r.IntN(3) {
	case 1:
		s.ProxyProtocol = "v2"
	case 2:
		if s.Protocol != UDP {
			s.ProxyProtocol = "v1"
		}
	}
	destPort := func(fwd Forward) uint16 {
		switch {
		case s.FWMark != 0:
			return uint16(r.IntN(65536))
		case fwd != Masq || port == 0:
			return port
		default:
			return uint16(1 + r.IntN(65535))
		}
	}
	if r.IntN(3) == 0 {
		s.SorryServer = netip.AddrPortFrom(randomAddr(r, s.IsIPv6(), 250), destPort(Masq))
	}
	for j := range r.IntN(5) {
		fwd := []Forward{Masq, Route, Tunnel}[r.IntN(3)]
		if s.ProxyProtocol != "" {
			fwd = Masq
		}
		fam := s.IsIPv6()
		if fwd == Tunnel && r.IntN(2) == 0 {
			fam = !fam
		}
		upper := uint32(r.Int64N(MaxThreshold + 1))
		s.Reals = append(s.Reals, Real{
			Address:        netip.AddrPortFrom(randomAddr(r, fam, byte(j)), destPort(fwd)),
			Weight:         r.Int32(),
			Forward:        fwd,
			UpperThreshold: upper * uint32(r.IntN(2)),
			LowerThreshold: uint32(r.Int64N(int64(upper)+1)) * uint32(r.IntN(2)),
		})
		if s.Reals[j].LowerThreshold > s.Reals[j].UpperThreshold {
			s.Reals[j].LowerThreshold = s.Reals[j].UpperThreshold
		}
	}
	return s
}

// randomAddr returns a unicast address whose last byte is tag, so that
// addresses built with distinct tags never collide.
func randomAddr(r *rand.Rand, v6 bool, tag byte) netip.Addr {
	if v6 {
		var b [16]byte
		b[0], b[1] = 0x20, 0x01
		for k := 2; k < 15; k++ {
			b[k] = byte(r.IntN(256))
		}
		b[15] = tag
		return netip.AddrFrom16(b)
	}
	return netip.AddrFrom4([4]byte{10, byte(r.IntN(256)), byte(r.IntN(256)), tag})
}
