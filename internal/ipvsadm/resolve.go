package ipvsadm

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"
)

// Resolver is the name service ipvsadm uses: gethostbyname/gethostbyaddr
// for hosts and getservbyname/getservbyport (/etc/services) for ports.
type Resolver interface {
	// HostAddr is gethostbyname(): the first IPv4 address of name.
	HostAddr(ctx context.Context, name string) (netip.Addr, bool)
	// HostName is gethostbyaddr(): the canonical name of a.
	HostName(ctx context.Context, a netip.Addr) (string, bool)
	// Port is getservbyname(name, proto) with proto "tcp", "udp" or "sctp".
	Port(name, proto string) (uint16, bool)
	// PortName is getservbyport(port, proto): the official service name.
	PortName(port uint16, proto string) (string, bool)
}

// NumericResolver knows no names: every listing falls back to numbers, and
// only numeric hosts and ports parse.
type NumericResolver struct{}

func (NumericResolver) HostAddr(context.Context, string) (netip.Addr, bool) {
	return netip.Addr{}, false
}
func (NumericResolver) HostName(context.Context, netip.Addr) (string, bool) { return "", false }
func (NumericResolver) Port(string, string) (uint16, bool)                  { return 0, false }
func (NumericResolver) PortName(uint16, string) (string, bool)              { return "", false }

// ServicesTable is a parsed services(5) file.
type ServicesTable struct {
	byName map[string]uint16 // "name/proto", aliases included; first entry wins
	byPort map[string]string // "port/proto" -> official name; first entry wins
}

// ParseServices reads services(5) lines: "name port/proto [aliases] [# ...]".
func ParseServices(r io.Reader) (*ServicesTable, error) {
	t := &ServicesTable{byName: map[string]uint16{}, byPort: map[string]string{}}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		pp := strings.SplitN(f[1], "/", 2)
		if len(pp) != 2 {
			continue
		}
		port := stringToNumber(pp[0], 0, 65535)
		if port < 0 {
			continue
		}
		proto := pp[1]
		pk := pp[0] + "/" + proto
		if _, ok := t.byPort[pk]; !ok {
			t.byPort[pk] = f[0]
		}
		for _, n := range append([]string{f[0]}, f[2:]...) {
			if _, ok := t.byName[n+"/"+proto]; !ok {
				t.byName[n+"/"+proto] = uint16(port)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return t, nil
}

// Port looks a service name up.
func (t *ServicesTable) Port(name, proto string) (uint16, bool) {
	if t == nil {
		return 0, false
	}
	p, ok := t.byName[name+"/"+proto]
	return p, ok
}

// PortName looks a port up.
func (t *ServicesTable) PortName(port uint16, proto string) (string, bool) {
	if t == nil {
		return "", false
	}
	n, ok := t.byPort[itoa(int64(port))+"/"+proto]
	return n, ok
}

// SystemResolver resolves like the C library: hosts through the system
// resolver (/etc/hosts, DNS), ports through /etc/services. Each host lookup
// is bounded by Timeout so a listing never hangs on an unreachable DNS.
type SystemResolver struct {
	ServicesFile string        // default /etc/services
	Timeout      time.Duration // per host lookup; default 2 s

	once     sync.Once
	services *ServicesTable

	mu    sync.Mutex
	names map[netip.Addr]string // reverse lookups done, "" = none
}

func (s *SystemResolver) table() *ServicesTable {
	s.once.Do(func() {
		name := s.ServicesFile
		if name == "" {
			name = "/etc/services"
		}
		f, err := os.Open(name)
		if err != nil {
			return // no services file: only numeric ports, like glibc
		}
		defer f.Close()
		s.services, _ = ParseServices(f)
	})
	return s.services
}

func (s *SystemResolver) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return 2 * time.Second
}

// HostAddr implements Resolver.
func (s *SystemResolver) HostAddr(ctx context.Context, name string) (netip.Addr, bool) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	as, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", name)
	if err != nil || len(as) == 0 {
		return netip.Addr{}, false
	}
	return as[0].Unmap(), true
}

// HostName implements Resolver. Answers are kept, so a listing asks once
// per address however often it appears.
func (s *SystemResolver) HostName(ctx context.Context, a netip.Addr) (string, bool) {
	s.mu.Lock()
	n, done := s.names[a]
	s.mu.Unlock()
	if done {
		return n, n != ""
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	if names, err := net.DefaultResolver.LookupAddr(ctx, a.String()); err == nil && len(names) > 0 {
		n = strings.TrimSuffix(names[0], ".")
	}
	s.mu.Lock()
	if s.names == nil {
		s.names = map[netip.Addr]string{}
	}
	s.names[a] = n
	s.mu.Unlock()
	return n, n != ""
}

// Port implements Resolver.
func (s *SystemResolver) Port(name, proto string) (uint16, bool) { return s.table().Port(name, proto) }

// PortName implements Resolver.
func (s *SystemResolver) PortName(port uint16, proto string) (string, bool) {
	return s.table().PortName(port, proto)
}
