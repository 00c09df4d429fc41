package compress

// Codec is a content coding.
type Codec uint8

// Codecs, in the server's order of preference on equal q-values: zstd
// and brotli give smaller bodies than gzip at similar speed.
const (
	Identity Codec = iota
	Zstd
	Brotli
	Gzip
	numCodecs
)

var codecNames = [numCodecs]string{Identity: "identity", Zstd: "zstd", Brotli: "br", Gzip: "gzip"}

// String is the codec's Content-Encoding token.
func (c Codec) String() string {
	if c < numCodecs {
		return codecNames[c]
	}
	return "unknown"
}

// Negotiate picks the coding for an Accept-Encoding value among offered
// (in preference order) by RFC 9110 §12.5.3: a coding listed with q=0 is
// refused, "*" stands for every coding not listed, the highest q wins and
// the server's order breaks ties; identity is chosen when the client
// lists it with a higher q than any offered coding, or when no offered
// coding is acceptable. "x-gzip" is gzip (RFC 9110 §8.4.1.3). A q-value
// that does not parse counts as 0, as nginx's ngx_http_gzip_quantity
// refuses it.
func Negotiate(ae string, offered []Codec) Codec {
	const unset = -1
	var q [numCodecs]int
	for i := range q {
		q[i] = unset
	}
	star, ident := unset, unset
	for len(ae) > 0 {
		var item string
		if i := indexByte(ae, ','); i >= 0 {
			item, ae = ae[:i], ae[i+1:]
		} else {
			item, ae = ae, ""
		}
		tok, params := item, ""
		if i := indexByte(item, ';'); i >= 0 {
			tok, params = item[:i], item[i+1:]
		}
		tok = trimOWS(tok)
		if tok == "" {
			continue
		}
		qv := parseQ(params)
		set := func(p *int) {
			if qv > *p {
				*p = qv
			}
		}
		switch {
		case equalFold(tok, "gzip"), equalFold(tok, "x-gzip"):
			set(&q[Gzip])
		case equalFold(tok, "zstd"):
			set(&q[Zstd])
		case equalFold(tok, "br"):
			set(&q[Brotli])
		case equalFold(tok, "identity"):
			set(&ident)
		case tok == "*":
			set(&star)
		}
	}
	best, bestQ := Identity, 0
	for _, c := range offered {
		v := q[c]
		if v == unset {
			v = max(star, 0)
		}
		if v > bestQ {
			best, bestQ = c, v
		}
	}
	if best != Identity && ident > bestQ {
		return Identity
	}
	return best
}

// parseQ reads the "q" parameter of an Accept-Encoding element in
// thousandths: 1000 when absent, 0 when malformed.
func parseQ(params string) int {
	for len(params) > 0 {
		var p string
		if i := indexByte(params, ';'); i >= 0 {
			p, params = params[:i], params[i+1:]
		} else {
			p, params = params, ""
		}
		p = trimOWS(p)
		if len(p) < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=' {
			continue
		}
		return qvalue(trimOWS(p[2:]))
	}
	return 1000
}

// qvalue parses RFC 9110's qvalue: "0" ["." 0*3DIGIT] / "1" ["." 0*3"0"].
func qvalue(s string) int {
	if s == "" || (s[0] != '0' && s[0] != '1') {
		return 0
	}
	v := int(s[0]-'0') * 1000
	if len(s) == 1 {
		return v
	}
	if s[1] != '.' || len(s) > 5 {
		return 0
	}
	scale := 100
	for i := 2; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0
		}
		v += int(c-'0') * scale
		scale /= 10
	}
	if v > 1000 {
		return 0
	}
	return v
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// equalFold compares ASCII case-insensitively.
func equalFold(s, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := 0; i < len(s); i++ {
		a, b := s[i], t[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}
