package config

import (
	"reflect"
	"testing"
)

// FuzzParse checks that Parse never panics, that it returns a config exactly
// when there is no error, and that every config it accepts marshals and
// parses back to the same model.
func FuzzParse(f *testing.F) {
	f.Add(defaultYAML)
	for _, g := range goldenFiles(f) {
		f.Add(g.Input)
	}
	f.Add([]byte("a: &a [*a, *a]\nservices: *a\n"))
	f.Add([]byte("services: [{protocol: tcp, address: '[::ffff:10.0.0.1]:80', reals: [{address: '[::ffff:10.0.0.2]:80'}]}]"))
	f.Add([]byte("services: [{protocol: tcp, address: 10.0.0.1:80, health: {check_defaults: {interval: 2s}}, reals: [{address: 10.0.0.2:80, health: {checks: [{type: http_get, urls: [{path: /, status_codes: '200 300-399'}]}, {type: udp_check, payload: 1 2, require_reply: 0x}]}}]}]"))
	f.Add([]byte("vrrp_instances: [{name: V, interface: eth0, virtual_router_id: 1, virtual_ipaddress: ['10.0.0.1/24 brd 10.0.0.255 dev eth0 scope link label eth0:1'], track_interface: ['eth1 weight -2 reverse']}]"))
	f.Add([]byte("http: {servers: [{listen: ['0.0.0.0:443 ssl http2 default_server', 8080], server_names: ['*.a.com', '~^(?<n>.+)\\.b$'], certificates: [{cert_file: /c, key_file: /k}], locations: [{match: '~* \\.jpg$', proxy_pass: 'http://up'}, {match: '=/x', return: '301 https://$host/'}, {match: /a/, rewrites: ['^/a/(.*)$ /b/$1 last'], locations: [{match: /a/b/, routes: [{match: {languages: [zh], headers: {X: null}}, proxy_pass: 'http://up/'}], proxy_pass: 'http://10.0.0.9:80'}]}]}], upstreams: [{name: up, balance: 'hash $uri consistent', servers: ['10.0.0.1:80 weight=2 max_fails=0 backup', {address: 'h.example:81', id: 2, cookie: c}], sticky: {cookie: SRV}, health: {checks: [{type: tcp_check}]}}], limits: {max_body_bytes: 1m}}}"))
	f.Add([]byte("http: {servers: [{listen: ['[::]:80'], locations: [{match: /, set_headers: [{name: A, value: '1'}, {name: A}], next_upstream: 'error http_502', return: {code: 200, text: ' x'}}]}], upstreams: [{name: u, balance: 'source', hash_type: 'consistent crc32', keepalive: 0, servers: ['[2001:db8::1]:80']}], access_log: off, trusted_proxies: [10.0.0.1]}"))
	f.Add([]byte("http: {limit_req_zones: ['$binary_remote_addr zone=a:1m rate=30r/m', {name: b, key: '${host}x', rate: 0.5, size: 32k}], limit_conn_zones: ['$host zone=c:64k'], maps: [{source: $http_user_agent, variable: $bot, hostnames: true, entries: {'~*bot': '1', '*.a.com': $host}}], flood: {conn_rate: 1.5, exempt: [10.0.0.1]}, upstreams: [{name: u, servers: ['10.0.0.1:80']}], servers: [{listen: [80], locations: [{match: /, proxy_pass: 'http://u', limit_req: ['zone=a burst=3 nodelay', {zone: b, delay: 1, burst: 2}], limit_conn: ['c 5'], limit_req_status: 429, referers: {valid: 'none blocked *.A.com/x ~\\.g\\.', redirect_url: /no}, secure_link: {secret_file: /k}, compression: {gzip: true, types: 'text/css *'}, image_compression: {min_size: 1k, resize: true, max_width: 10}, locations: [{match: /a, proxy_pass: 'http://u'}]}]}]}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, ds := Parse("fuzz.yaml", data)
		if (ds.Err() == nil) != (c != nil) {
			t.Fatalf("config %v returned with diagnostics:\n%s", c != nil, ds)
		}
		for _, d := range ds {
			if d.Message == "" || d.File != "fuzz.yaml" {
				t.Fatalf("malformed diagnostic %+v", d)
			}
		}
		if c == nil {
			return
		}
		out, err := Marshal(c)
		if err != nil {
			t.Fatalf("Marshal of an accepted config: %v", err)
		}
		back, ds := Parse("fuzz.yaml", out)
		if err := ds.Err(); err != nil {
			t.Fatalf("re-parse failed:\n%v\n--- input\n%q\n--- marshaled\n%s", err, data, out)
		}
		if !reflect.DeepEqual(back, c) {
			t.Fatalf("re-parse differs\n--- input\n%q\n--- marshaled\n%s--- first\n%#v\n--- second\n%#v", data, out, c, back)
		}
	})
}
