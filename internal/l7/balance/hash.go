package balance

import (
	"hash/crc32"
	"slices"
	"strings"
)

// crc32String continues an IEEE CRC-32 (the one of ngx_crc32 and HAProxy
// hash_crc32) over s; crc is a finished value, 0 to start, like
// crc32.Update. A byte loop avoids converting s to a slice.
func crc32String(crc uint32, s string) uint32 {
	tab := crc32.IEEETable
	crc = ^crc
	for i := 0; i < len(s); i++ {
		crc = tab[byte(crc)^s[i]] ^ (crc >> 8)
	}
	return ^crc
}

// crc32Bytes is crc32String over a byte slice; the byte loop keeps small
// stack buffers from escaping (crc32.Update's assembly path takes them).
func crc32Bytes(crc uint32, p []byte) uint32 {
	tab := crc32.IEEETable
	crc = ^crc
	for _, c := range p {
		crc = tab[byte(crc)^c] ^ (crc >> 8)
	}
	return ^crc
}

// chashPoint is ngx_http_upstream_chash_point_t: a point on the ketama ring
// and the interned server name it belongs to.
type chashPoint struct {
	hash   uint32
	server int
}

// ketamaPoints builds the ring of ngx_http_upstream_init_chash, compatible
// with Cache::Memcached::Fast: per peer, weight*160 points, point j being
// crc32(HOST "\0" PORT prev) where prev is the little-endian previous point
// (0 at first); HOST/PORT split at the last ':' when only digits follow,
// "unix:" names have no port. Sorted, equal hashes collapsed to the first.
func ketamaPoints(peers []ngxPeer) []chashPoint {
	n := 0
	for i := range peers {
		n += peers[i].weight * 160
	}
	points := make([]chashPoint, 0, n)
	for i := range peers {
		host, port := ketamaSplit(peers[i].cfg.Name)
		base := crc32String(0, host)
		base = crc32Bytes(base, []byte{0})
		base = crc32String(base, port)
		var prev [4]byte
		for j := 0; j < peers[i].weight*160; j++ {
			h := crc32Bytes(base, prev[:])
			points = append(points, chashPoint{hash: h, server: peers[i].nameID})
			prev = [4]byte{byte(h), byte(h >> 8), byte(h >> 16), byte(h >> 24)}
		}
	}
	// ngx_qsort is libc qsort, a merge sort in glibc for arrays this size:
	// stable, so among equal hashes the earlier server's point survives.
	slices.SortStableFunc(points, func(a, b chashPoint) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		return 0
	})
	return slices.CompactFunc(points, func(a, b chashPoint) bool { return a.hash == b.hash })
}

func ketamaSplit(server string) (host, port string) {
	if len(server) >= 5 && strings.EqualFold(server[:5], "unix:") {
		return server[5:], ""
	}
	for j := 0; j < len(server); j++ {
		c := server[len(server)-j-1]
		if c == ':' {
			return server[:len(server)-j-1], server[len(server)-j:]
		}
		if c < '0' || c > '9' {
			break
		}
	}
	return server, ""
}

// findPoint is ngx_http_upstream_find_chash_point: the first point whose
// hash is >= hash; len(points) when none (the caller wraps modulo).
func findPoint(points []chashPoint, hash uint32) uint {
	i, j := 0, len(points)
	for i < j {
		k := (i + j) / 2
		switch {
		case hash > points[k].hash:
			i = k + 1
		case hash < points[k].hash:
			j = k
		default:
			return uint(k)
		}
	}
	return uint(i)
}

// HAProxy hash functions, src/hash.c.

func hashSDBM(s string) uint32 {
	var h uint32
	for i := 0; i < len(s); i++ {
		h = uint32(s[i]) + (h << 6) + (h << 16) - h
	}
	return h
}

func hashDJB2(s string) uint32 {
	h := uint32(5381)
	for i := 0; i < len(s); i++ {
		h = (h << 5) + h + uint32(s[i])
	}
	return h
}

func hashWT6(s string) uint32 {
	h0, h1 := uint32(0xa53c965a), uint32(0x5ca6953a)
	step0, step1 := uint32(6), uint32(18)
	for i := 0; i < len(s); i++ {
		t := uint32(s[i])
		h0 = ^(h0 ^ t)
		h1 = ^(h1 + t)
		t = (h1 << step0) | (h1 >> (32 - step0))
		h1 = (h0 << step1) | (h0 >> (32 - step1))
		h0 = t
		t = ((h0 >> 16) ^ h1) & 0xffff
		step0 = t & 0x1f
		step1 = t >> 11
	}
	return h0 ^ h1
}

// fullHash is HAProxy's full_hash (include/haproxy/tools.h): Bob Jenkins'
// full avalanche on 32 bits, times a prime close to 3/4 of 2^32.
func fullHash(a uint32) uint32 {
	a = (a + 0x7ed55d16) + (a << 12)
	a = (a ^ 0xc761c23c) ^ (a >> 19)
	a = (a + 0x165667b1) + (a << 5)
	a = (a + 0xd3a2646c) ^ (a << 9)
	a = (a + 0xfd7046c5) + (a << 3)
	a = (a ^ 0xb55a4f09) ^ (a >> 16)
	return a * 3221225473
}

// genHash is backend.c gen_hash.
func genHash(f HashFunc, s string) uint32 {
	switch f {
	case DJB2:
		return hashDJB2(s)
	case WT6:
		return hashWT6(s)
	case CRC32:
		return crc32String(0, s)
	}
	return hashSDBM(s)
}

// sourceHash is the key of get_server_sh: the address's 32-bit big-endian
// words XORed (no hash function applies).
func sourceHash(ip [16]byte, n int) uint32 {
	var h uint32
	for l := 0; l+4 <= n; l += 4 {
		h ^= uint32(ip[l])<<24 | uint32(ip[l+1])<<16 | uint32(ip[l+2])<<8 | uint32(ip[l+3])
	}
	return h
}

// uriKey is the part of the URI get_server_uh hashes: at most len
// characters, stopping at the (depth+1)-th '/' and, unless whole, at '?'.
func uriKey(uri string, length, depth int, whole bool) string {
	if length > 0 && length < len(uri) {
		uri = uri[:length]
	}
	slashes := 0
	for end := 0; end < len(uri); end++ {
		switch c := uri[end]; {
		case c == '/':
			slashes++
			if slashes == depth+1 && depth > 0 {
				return uri[:end]
			}
		case c == '?' && !whole:
			return uri[:end]
		}
	}
	return uri
}

// uriPath is http_parse_path: for an absolute URI, what follows the
// authority; for origin form the URI itself; "*" and a URI without a path
// give "".
func uriPath(uri string) string {
	if uri == "" || uri[0] == '/' {
		return uri
	}
	if uri == "*" {
		return ""
	}
	i := strings.Index(uri, "://")
	if i < 0 {
		return ""
	}
	rest := uri[i+3:]
	j := strings.IndexByte(rest, '/')
	if j < 0 {
		return ""
	}
	return rest[j:]
}

// urlParam is the value search of get_server_ph: in the query string, the
// first "<name>=" at the start of a parameter; the value runs to the next
// '&'. ok is false when the parameter is absent.
func urlParam(uri, name string) (string, bool) {
	q := strings.IndexByte(uri, '?')
	if q < 0 {
		return "", false
	}
	params := uri[q+1:]
	plen := len(name)
	for len(params) > plen {
		if params[plen] == '=' && params[:plen] == name {
			v := params[plen+1:]
			if e := strings.IndexByte(v, '&'); e >= 0 {
				v = v[:e]
			}
			return v, true
		}
		a := strings.IndexByte(params, '&')
		if a < 0 {
			return "", false
		}
		params = params[a+1:]
	}
	return "", false
}

// firstHeaderValue is what http_find_header(..., full=0) yields for the
// first field line: the first comma-separated element (commas inside
// quoted strings do not split), without surrounding blanks.
func firstHeaderValue(v string) string {
	inQuote := false
	end := len(v)
loop:
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '"':
			inQuote = !inQuote
		case '\\':
			if inQuote {
				i++
			}
		case ',':
			if !inQuote {
				end = i
				break loop
			}
		}
	}
	return strings.Trim(v[:end], " \t")
}

// domainOnly is the use_domain_only walk of get_server_hh: scanning from
// the end, the label just before the last dot ("haproxy.1wt.eu" → "1wt");
// a value without a dot hashes whole.
func domainOnly(v string) string {
	p := len(v) // HAProxy's p starts one past the last character
	end := p
	dohash := false
	n := len(v)
	for n > 0 {
		if dohash {
			if v[p-1] == '.' {
				break
			}
		} else if p < len(v) && v[p] == '.' {
			end = p
			dohash = true
		}
		p--
		n--
	}
	return v[p:end]
}
