package config

import (
	"fmt"

	yaml "go.yaml.in/yaml/v4"
)

// The file* types mirror the YAML schema Parse reads, for writing only.
// Every value whose absence Parse would fill with a default is written
// out, so that the output means the same thing whatever the defaults.
type fileConfig struct {
	DataPlane      string              `yaml:"data_plane,omitempty"`
	XDP            *fileXDP            `yaml:"xdp,omitempty"`
	Admin          fileAdmin           `yaml:"admin"`
	Timeouts       fileTimeouts        `yaml:"timeouts"`
	Global         *fileGlobal         `yaml:"global,omitempty"`
	Services       []fileService       `yaml:"services,omitempty"`
	VRRPScripts    []fileVRRPScript    `yaml:"vrrp_scripts,omitempty"`
	VRRPInstances  []fileVRRPInstance  `yaml:"vrrp_instances,omitempty"`
	VRRPSyncGroups []fileVRRPSyncGroup `yaml:"vrrp_sync_groups,omitempty"`
	HTTP           *fileHTTP           `yaml:"http,omitempty"`
	Demo           *fileDemo           `yaml:"demo,omitempty"`
}

type fileXDP struct {
	Interfaces []string `yaml:"interfaces,omitempty"`
	Mode       string   `yaml:"mode,omitempty"`
}

type fileAdmin struct {
	Socket    string `yaml:"socket"` // "" disables it, so never omitted
	Listen    string `yaml:"listen,omitempty"`
	TokenFile string `yaml:"token_file,omitempty"`
}

type fileTimeouts struct {
	TCP    string `yaml:"tcp"`
	TCPFin string `yaml:"tcpfin"`
	UDP    string `yaml:"udp"`
}

type fileService struct {
	Protocol      string             `yaml:"protocol,omitempty"`
	Address       string             `yaml:"address,omitempty"`
	FWMark        uint32             `yaml:"fwmark,omitempty"`
	IPv6          bool               `yaml:"ipv6,omitempty"`
	Scheduler     string             `yaml:"scheduler"`
	SchedFlags    []string           `yaml:"sched_flags,omitempty,flow"`
	Persistence   *filePersistence   `yaml:"persistence,omitempty"`
	OnePacket     bool               `yaml:"one_packet,omitempty"`
	ProxyProtocol string             `yaml:"proxy_protocol,omitempty"`
	SorryServer   string             `yaml:"sorry_server,omitempty"`
	Health        *fileServiceHealth `yaml:"health,omitempty"`
	Reals         []fileReal         `yaml:"reals,omitempty"`
}

type filePersistence struct {
	Timeout string `yaml:"timeout"`
	Netmask int    `yaml:"netmask"` // always a prefix length, for both families
}

type fileReal struct {
	Address        string          `yaml:"address"`
	Weight         int32           `yaml:"weight"` // 0 is meaningful, 1 is the default
	Forward        string          `yaml:"forward"`
	UpperThreshold uint32          `yaml:"upper_threshold,omitempty"`
	LowerThreshold uint32          `yaml:"lower_threshold,omitempty"`
	Health         *fileRealHealth `yaml:"health,omitempty"`
}

type fileDemo struct {
	Backends []fileBackend `yaml:"backends"`
}

type fileBackend struct {
	Name     string `yaml:"name"`
	Protocol string `yaml:"protocol"`
	Address  string `yaml:"address"`
}

// Marshal writes the canonical YAML of c after normalisation, in the schema
// Parse reads: Parse of the output gives back the normalised model. c itself
// is not modified.
func Marshal(c *Config) ([]byte, error) {
	if c == nil {
		return nil, fmt.Errorf("marshaling config: nil config")
	}
	c = c.Clone()
	cloneExtensions(c)
	Normalize(c)
	f := fileConfig{
		DataPlane: c.DataPlane,
		XDP:       marshalXDP(c.XDP),
		Admin:     fileAdmin{Socket: c.Admin.Socket, Listen: c.Admin.Listen, TokenFile: c.Admin.TokenFile},
		Timeouts: fileTimeouts{
			TCP:    formatDuration(c.Timeouts.TCP),
			TCPFin: formatDuration(c.Timeouts.TCPFin),
			UDP:    formatDuration(c.Timeouts.UDP),
		},
		Global: marshalGlobal(c.Global),
	}
	for _, s := range c.Services {
		fs := fileService{
			Protocol:      string(s.Protocol),
			FWMark:        s.FWMark,
			IPv6:          s.IPv6,
			Scheduler:     s.Scheduler,
			SchedFlags:    s.SchedFlags,
			OnePacket:     s.OnePacket,
			ProxyProtocol: s.ProxyProtocol,
			Address:       addrString(s.Address),
			SorryServer:   addrString(s.SorryServer),
			Health:        marshalServiceHealth(s.Health),
		}
		if p := s.Persistence; p != nil {
			fs.Persistence = &filePersistence{Timeout: formatDuration(p.Timeout), Netmask: p.PrefixBits}
		}
		for _, r := range s.Reals {
			fs.Reals = append(fs.Reals, fileReal{
				Address:        addrString(r.Address),
				Weight:         r.Weight,
				Forward:        string(r.Forward),
				UpperThreshold: r.UpperThreshold,
				LowerThreshold: r.LowerThreshold,
				Health:         marshalRealHealth(r.Health),
			})
		}
		f.Services = append(f.Services, fs)
	}
	for i := range c.VRRPScripts {
		f.VRRPScripts = append(f.VRRPScripts, marshalVRRPScript(&c.VRRPScripts[i]))
	}
	for i := range c.VRRPInstances {
		f.VRRPInstances = append(f.VRRPInstances, marshalVRRPInstance(&c.VRRPInstances[i]))
	}
	for i := range c.VRRPSyncGroups {
		f.VRRPSyncGroups = append(f.VRRPSyncGroups, marshalVRRPSyncGroup(&c.VRRPSyncGroups[i]))
	}
	f.HTTP = marshalHTTP(c.HTTP)
	if c.Demo != nil {
		f.Demo = &fileDemo{Backends: []fileBackend{}}
		for _, b := range c.Demo.Backends {
			f.Demo.Backends = append(f.Demo.Backends, fileBackend{Name: b.Name, Protocol: string(b.Protocol), Address: addrString(b.Address)})
		}
	}
	out, err := yaml.Dump(&f, yaml.WithV4Defaults(), yaml.WithLineWidth(-1))
	if err != nil {
		return nil, fmt.Errorf("marshaling config: %w", err)
	}
	return out, nil
}

func addrString(a interface {
	IsValid() bool
	String() string
}) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func marshalXDP(x XDPConfig) *fileXDP {
	if len(x.Interfaces) == 0 && x.Mode == "" {
		return nil
	}
	return &fileXDP{Interfaces: x.Interfaces, Mode: x.Mode}
}
