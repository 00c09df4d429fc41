package health

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// dnsTypes is check_dns.c DNS_TYPE: the query types DNS_CHECK accepts.
var dnsTypes = map[string]uint16{
	"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28, "RRSIG": 46, "DNSKEY": 48,
}

const dnsHeaderLen = 12

// dnsProber is DNS_CHECK (check_dns.c), written by hand rather than with
// a DNS library: one UDP query with RD set for Name/Type class IN; success
// is the first datagram that is at least a header, carries the query's ID
// and QR, and has RCODE 0. Datagrams with another ID or without QR are
// skipped; a non-zero RCODE fails.
type dnsProber struct {
	co    connOpts
	qtype uint16
	name  string
}

func newDNSProber(c config.Check, co connOpts) (*dnsProber, error) {
	p := &dnsProber{co: co, qtype: 6, name: c.DNSName}
	if c.DNSType != "" {
		t, ok := dnsTypes[strings.ToUpper(c.DNSType)]
		if !ok {
			return nil, fmt.Errorf("unknown DNS check type %q", c.DNSType)
		}
		p.qtype = t
	}
	if p.name == "" {
		p.name = "." // DNS_DEFAULT_NAME
	}
	if err := checkDNSName(p.name); err != nil {
		return nil, err
	}
	return p, nil
}

// checkDNSName rejects empty labels as check_dns.c dns_name_handler does.
func checkDNSName(name string) error {
	if name == "." {
		return nil
	}
	if strings.HasPrefix(name, ".") || strings.Contains(name, "..") {
		return fmt.Errorf("DNS_CHECK name %q has an empty label", name)
	}
	for l := range strings.SplitSeq(strings.TrimSuffix(name, "."), ".") {
		if len(l) > 63 {
			return fmt.Errorf("DNS_CHECK name %q has a label longer than 63 octets", name)
		}
	}
	return nil
}

// dnsQuery builds the query of check_dns.c dns_make_query.
func dnsQuery(id uint16, name string, qtype uint16) []byte {
	q := make([]byte, dnsHeaderLen, dnsHeaderLen+len(name)+6)
	binary.BigEndian.PutUint16(q[0:], id)
	binary.BigEndian.PutUint16(q[2:], 0x0100) // RD
	binary.BigEndian.PutUint16(q[4:], 1)      // QDCOUNT
	if name != "." {
		for l := range strings.SplitSeq(strings.TrimSuffix(name, "."), ".") {
			q = append(q, byte(len(l)))
			q = append(q, l...)
		}
	}
	q = append(q, 0)
	q = binary.BigEndian.AppendUint16(q, qtype)
	q = binary.BigEndian.AppendUint16(q, 1) // IN
	return q
}

// dnsReplyVerdict classifies a received datagram (check_dns.c
// dns_recv_thread): skip it (too short, other ID, not a response), or a
// final answer with its RCODE.
func dnsReplyVerdict(id uint16, b []byte) (final bool, rcode int) {
	if len(b) < dnsHeaderLen || binary.BigEndian.Uint16(b) != id {
		return false, 0
	}
	flags := binary.BigEndian.Uint16(b[2:])
	if flags&0x8000 == 0 {
		return false, 0
	}
	return true, int(flags & 0x000f)
}

func (p *dnsProber) Probe(ctx context.Context) Result {
	conn, done, err := p.co.dial(ctx, "udp")
	if err != nil {
		return fail(err)
	}
	defer done()
	op := "dns " + p.co.dst.String()
	id := uint16(rand.Uint32())
	// One deadline covers the send and all reads, as check_dns.c carries
	// the remaining time of thread->sands from send to receive.
	deadline := p.co.deadline()
	conn.SetDeadline(deadline)
	if _, err := conn.Write(dnsQuery(id, p.name, p.qtype)); err != nil {
		return fail(classifyUDP(op+": send query", err))
	}
	buf := make([]byte, 1024) // DNS_BUFFER_SIZE
	for {
		n, err := conn.Read(buf)
		if err != nil {
			if errors.Is(classify("", err), ErrTimeout) {
				return fail(fmt.Errorf("%s: %w: no answer within %s", op, ErrTimeout, p.co.timeout))
			}
			return fail(classifyUDP(op, err))
		}
		if final, rcode := dnsReplyVerdict(id, buf[:n]); final {
			if rcode != 0 {
				return fail(fmt.Errorf("%s: %w %d", op, ErrDNSRcode, rcode))
			}
			return Result{OK: true}
		}
	}
}
