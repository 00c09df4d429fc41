package config

import (
	yaml "go.yaml.in/yaml/v4"
)

// Writing the issue-6 features: mappings throughout, every default
// written out.

type fileZone struct {
	Name string   `yaml:"name"`
	Key  string   `yaml:"key"`
	Rate *float64 `yaml:"rate,omitempty"` // limit_req zones only
	Size int64    `yaml:"size"`
}

type fileMap struct {
	Source    string `yaml:"source"`
	Variable  string `yaml:"variable"`
	Default   string `yaml:"default,omitempty"`
	Hostnames bool   `yaml:"hostnames,omitempty"`
	Entries   any    `yaml:"entries,omitempty"`
}

type fileMapEntry struct {
	Match string `yaml:"match"`
	Value string `yaml:"value"`
}

type fileFlood struct {
	ConnRate          float64  `yaml:"conn_rate,omitempty"`
	ConnBurst         int      `yaml:"conn_burst,omitempty"`
	MaxConnsPerSource int      `yaml:"max_conns_per_source,omitempty"`
	FirstByteTimeout  string   `yaml:"first_byte_timeout,omitempty"`
	Exempt            []string `yaml:"exempt,omitempty,flow"`
}

type fileLimitReq struct {
	Zone    string `yaml:"zone"`
	Burst   int    `yaml:"burst,omitempty"`
	NoDelay bool   `yaml:"nodelay,omitempty"`
	Delay   int    `yaml:"delay,omitempty"`
}

type fileLimitConn struct {
	Zone string `yaml:"zone"`
	Conn int    `yaml:"conn"`
}

type fileReferers struct {
	Valid       []string `yaml:"valid,flow"`
	Status      int      `yaml:"status,omitempty"`
	RedirectURL string   `yaml:"redirect_url,omitempty"`
	ImageFile   string   `yaml:"image_file,omitempty"`
}

type fileSecureLink struct {
	SecretFile   string `yaml:"secret_file"`
	SigParam     string `yaml:"sig_param"`
	ExpiresParam string `yaml:"expires_param"`
	Required     bool   `yaml:"required,omitempty"`
}

type fileCompression struct {
	Gzip      bool     `yaml:"gzip,omitempty"`
	Zstd      bool     `yaml:"zstd,omitempty"`
	Brotli    bool     `yaml:"brotli,omitempty"`
	Level     int      `yaml:"level,omitempty"`
	MinLength int      `yaml:"min_length"`
	Types     []string `yaml:"types,flow"`
	Proxied   string   `yaml:"proxied"`
}

type fileImageCompression struct {
	MinSize     int64 `yaml:"min_size"`
	MaxSize     int64 `yaml:"max_size"`
	JPEGQuality int   `yaml:"jpeg_quality"`
	Resize      bool  `yaml:"resize,omitempty"`
	MaxWidth    int   `yaml:"max_width,omitempty"`
	MaxHeight   int   `yaml:"max_height,omitempty"`
	CacheSize   int64 `yaml:"cache_size"`
}

func marshalHTTPExtras(h *HTTP, f *fileHTTP) {
	for _, z := range h.LimitReqZones {
		r := z.Rate
		f.LimitReqZones = append(f.LimitReqZones, fileZone{Name: z.Name, Key: z.Key, Rate: &r, Size: z.Size})
	}
	for _, z := range h.LimitConnZones {
		f.LimitConnZones = append(f.LimitConnZones, fileZone{Name: z.Name, Key: z.Key, Size: z.Size})
	}
	for _, m := range h.Maps {
		f.Maps = append(f.Maps, fileMap{Source: m.Source, Variable: m.Variable, Default: m.Default, Hostnames: m.Hostnames, Entries: marshalMapEntries(m.Entries)})
	}
	fl := h.Flood
	ff := &fileFlood{
		ConnRate:          fl.ConnRate,
		ConnBurst:         fl.ConnBurst,
		MaxConnsPerSource: fl.MaxConnsPerSource,
		FirstByteTimeout:  nonZeroDuration(fl.FirstByteTimeout),
	}
	for _, p := range fl.Exempt {
		ff.Exempt = append(ff.Exempt, addrString(p))
	}
	if ff.ConnRate != 0 || ff.ConnBurst != 0 || ff.MaxConnsPerSource != 0 || ff.FirstByteTimeout != "" || len(ff.Exempt) > 0 {
		f.Flood = ff
	}
}

// marshalMapEntries writes a map's lines as a mapping of match to value
// (in order), or as a list when a match repeats.
func marshalMapEntries(es []MapEntry) any {
	if len(es) == 0 {
		return nil
	}
	seen := map[string]bool{}
	for _, e := range es {
		if seen[e.Match] {
			out := make([]fileMapEntry, len(es))
			for i, e := range es {
				out[i] = fileMapEntry(e)
			}
			return out
		}
		seen[e.Match] = true
	}
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, e := range es {
		n.Content = append(n.Content, strNode(e.Match), strNode(e.Value))
	}
	return n
}

func marshalLocationExtras(l *Location, fl *fileLocation) {
	for _, r := range l.LimitReq {
		fl.LimitReq = append(fl.LimitReq, fileLimitReq(r))
	}
	fl.LimitReqStatus = l.LimitReqStatus
	for _, c := range l.LimitConn {
		fl.LimitConn = append(fl.LimitConn, fileLimitConn(c))
	}
	fl.LimitConnStatus = l.LimitConnStatus
	if r := l.Referers; r != nil {
		fl.Referers = &fileReferers{Valid: r.Valid, Status: r.Status, RedirectURL: r.RedirectURL, ImageFile: r.ImageFile}
		if fl.Referers.Valid == nil {
			fl.Referers.Valid = []string{}
		}
	}
	if s := l.SecureLink; s != nil {
		fl.SecureLink = &fileSecureLink{SecretFile: s.SecretFile, SigParam: s.SigParam, ExpiresParam: s.ExpiresParam, Required: s.Required}
	}
	if c := l.Compression; c != nil {
		fl.Compression = &fileCompression{Gzip: c.Gzip, Zstd: c.Zstd, Brotli: c.Brotli, Level: c.Level, MinLength: c.MinLength, Types: c.Types, Proxied: c.Proxied}
		if fl.Compression.Types == nil {
			fl.Compression.Types = []string{}
		}
	}
	if ic := l.ImageCompression; ic != nil {
		fl.ImageCompression = &fileImageCompression{MinSize: ic.MinSize, MaxSize: ic.MaxSize, JPEGQuality: ic.JPEGQuality, Resize: ic.Resize, MaxWidth: ic.MaxWidth, MaxHeight: ic.MaxHeight, CacheSize: ic.CacheSize}
	}
}
