// Package adapt reads a configuration file in any format Fulcrum
// understands into its one model: native YAML (config.Parse), a
// keepalived.conf (package keepalived) or an nginx.conf (package nginx).
// Like Caddy's config adapters, each format is a row of a table with a way
// to recognise it.
//
// Detection order: a .yaml/.yml name is YAML; then keepalived (its name,
// or its first keyword), then nginx (its name, or a .conf file whose first
// directive is nginx's); anything else is read as YAML. keepalived comes
// before nginx because "include" starts both, and keepalived.conf has no
// other way to say what it is; nginx claims an include-first file only
// when its name says nginx.
package adapt

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/config/keepalived"
	"github.com/fulcrumlb/fulcrum/internal/config/nginx"
)

// Options tune how files are read. The zero value detects the format and
// reads keepalived.conf as keepalived on this host would, with this
// process's environment for ${_ENV NAME}.
type Options struct {
	// Format forces an adapter by name ("yaml", "keepalived", "nginx");
	// "" detects it.
	Format string
	// Keepalived are the keepalived.conf options; LookupEnv defaults
	// to os.LookupEnv.
	Keepalived keepalived.Options
	// Nginx are the nginx.conf options.
	Nginx nginx.Options
}

// adapter is one configuration format.
type adapter struct {
	name string
	// detect reports whether a file of this name and contents is in the
	// format; the yaml adapter, last, takes whatever is left.
	detect func(file string, data []byte) bool
	parse  func(file string, data []byte, opts *Options) (*config.Config, config.Diagnostics)
}

// adapters are tried in order.
var adapters = []adapter{
	{name: "yaml", detect: isYAMLName, parse: func(file string, data []byte, _ *Options) (*config.Config, config.Diagnostics) {
		return config.Parse(file, data)
	}},
	{name: "keepalived", detect: isKeepalived, parse: func(file string, data []byte, opts *Options) (*config.Config, config.Diagnostics) {
		o := opts.Keepalived
		if o.LookupEnv == nil {
			o.LookupEnv = os.LookupEnv
		}
		c, ds := keepalived.Parse(file, data, o)
		if c != nil && c.DataPlane == "" {
			// keepalived.conf cannot name a data plane, and its lb_kind
			// DR/TUN assume IPVS: serve what this host can, and say so.
			c.DataPlane = config.DataPlaneAuto
		}
		return c, ds
	}},
	{name: "nginx", detect: isNginx, parse: func(file string, data []byte, opts *Options) (*config.Config, config.Diagnostics) {
		return nginx.Parse(file, data, opts.Nginx)
	}},
	{name: "yaml", detect: func(string, []byte) bool { return true }, parse: func(file string, data []byte, _ *Options) (*config.Config, config.Diagnostics) {
		return config.Parse(file, data)
	}},
}

// Formats lists the format names Options.Format accepts.
func Formats() []string {
	var out []string
	for _, a := range adapters {
		if !slices.Contains(out, a.name) {
			out = append(out, a.name)
		}
	}
	return out
}

// Detect names the format of a file: "yaml" for a .yaml or .yml name,
// "keepalived" for a keepalived.conf (by its name or its first keyword),
// "nginx" for an nginx.conf (by its name, or a .conf whose first
// directive is nginx's), else "yaml".
func Detect(file string, data []byte) string {
	for _, a := range adapters {
		if a.detect(file, data) {
			return a.name
		}
	}
	return "yaml"
}

// Load reads the configuration file at path in whichever format it is.
func Load(path string) (*config.Config, config.Diagnostics) {
	return LoadWith(path, Options{})
}

// LoadWith is Load with options.
func LoadWith(path string, opts Options) (*config.Config, config.Diagnostics) {
	data, err := config.ReadFile(path)
	if err != nil {
		return nil, config.Diagnostics{{File: path, Severity: config.Error, Message: err.Error()}}
	}
	return ParseWith(path, data, opts)
}

// Parse reads a configuration held in data; file names it in diagnostics,
// helps detect its format and is where a keepalived.conf's includes are
// looked for.
func Parse(file string, data []byte) (*config.Config, config.Diagnostics) {
	return ParseWith(file, data, Options{})
}

// ParseWith is Parse with options.
func ParseWith(file string, data []byte, opts Options) (*config.Config, config.Diagnostics) {
	name := opts.Format
	if name == "" {
		name = Detect(file, data)
	}
	for _, a := range adapters {
		if a.name == name {
			return a.parse(file, data, &opts)
		}
	}
	return nil, config.Diagnostics{{File: file, Severity: config.Error, Message: fmt.Sprintf("unknown configuration format %q (known: %s)", name, strings.Join(Formats(), ", "))}}
}

func isYAMLName(file string, _ []byte) bool {
	switch strings.ToLower(filepath.Ext(file)) {
	case ".yaml", ".yml":
		return true
	}
	return false
}

// keepalivedRoots are keywords a keepalived.conf starts with: its top
// level keywords and preprocessor lines.
var keepalivedRoots = []string{
	"global_defs", "vrrp_instance", "vrrp_script", "vrrp_sync_group", "vrrp_track_file", "vrrp_track_process",
	"virtual_server", "virtual_server_group", "track_file", "static_ipaddress", "static_routes", "static_rules",
	"track_group", "garp_group", "linkbeat_interfaces", "interface_up_down_delays", "bfd_instance", "SSL",
	"net_namespace", "net_namespace_ipvs", "namespace_with_ipsets", "instance", "use_pid_dir", "child_wait_time",
	"include", "includer", "includem", "includew", "includeb", "includea",
}

// isKeepalived recognises a keepalived.conf by its name or by its first
// keyword (comments, "@id" prefixes and "$NAME=" definitions skipped).
func isKeepalived(file string, data []byte) bool {
	switch base := strings.ToLower(filepath.Base(file)); {
	case strings.Contains(base, "keepalived"):
		return true
	case strings.Contains(base, "nginx"):
		return false // an nginx.conf may start with include too
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '!' || l[0] == '#' {
			continue
		}
		if l[0] == '@' {
			// "@id keyword ...": the keyword follows the config id.
			_, rest, ok := strings.Cut(l, " ")
			if !ok {
				continue
			}
			l = strings.TrimSpace(rest)
		}
		if (strings.HasPrefix(l, "$") && strings.Contains(l, "=")) || strings.HasPrefix(l, "~SEQ") || strings.HasPrefix(l, "~LST") {
			return true
		}
		word := strings.FieldsFunc(l, func(r rune) bool { return r == ' ' || r == '\t' || r == '{' })
		return len(word) > 0 && slices.Contains(keepalivedRoots, word[0])
	}
	return false
}

// nginxRoots are directives an nginx.conf starts with: the main context's
// and those of a file included into http (a conf.d/*.conf or a
// sites-enabled file holds servers, upstreams and maps).
var nginxRoots = []string{
	"user", "worker_processes", "worker_rlimit_nofile", "worker_cpu_affinity", "worker_priority", "error_log", "pid",
	"daemon", "master_process", "load_module", "env", "pcre_jit", "thread_pool", "timer_resolution", "events", "http",
	"stream", "mail", "server", "upstream", "map", "geo", "split_clients", "limit_req_zone", "limit_conn_zone", "log_format",
	"proxy_cache_path",
}

// isNginx recognises an nginx.conf by a name containing "nginx", or by a
// .conf name whose first directive (comments skipped) is one nginx's main
// or http context starts with.
func isNginx(file string, data []byte) bool {
	base := strings.ToLower(filepath.Base(file))
	if strings.Contains(base, "nginx") {
		return true
	}
	if !strings.HasSuffix(base, ".conf") {
		return false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' {
			continue
		}
		word := strings.FieldsFunc(l, func(r rune) bool { return r == ' ' || r == '\t' || r == '{' || r == ';' })
		return len(word) > 0 && slices.Contains(nginxRoots, word[0])
	}
	return false
}
