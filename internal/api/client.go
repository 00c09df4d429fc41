package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/l7"
	"github.com/fulcrumlb/fulcrum/internal/vrrp"
)

// Client forwards Admin calls to a running Fulcrum over HTTP.
type Client struct {
	base  string
	token string
	hc    *http.Client
}

var _ Admin = (*Client)(nil)

// NewClient connects to addr: a unix socket path (anything containing a
// '/'), or host:port for the token-protected TCP listener.
func NewClient(addr, token string) *Client {
	tr := &http.Transport{DisableKeepAlives: true}
	base := "http://" + addr
	if strings.Contains(addr, "/") {
		path := addr
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
		base = "http://fulcrum"
	}
	return &Client{base: base, token: token, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("connecting to fulcrum admin API: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("reading admin API reply: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e Error
		if json.Unmarshal(data, &e) == nil && e.Code != "" {
			return &e
		}
		return &Error{Code: CodeInternal, Message: fmt.Sprintf("admin API: %s: %s", resp.Status, bytes.TrimSpace(data))}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decoding admin API reply: %w", err)
	}
	return nil
}

func get[T any](ctx context.Context, c *Client, path string) (T, error) {
	var v T
	err := c.do(ctx, http.MethodGet, path, nil, &v)
	return v, err
}

func (c *Client) Info(ctx context.Context) (Info, error) { return get[Info](ctx, c, PathInfo) }
func (c *Client) Services(ctx context.Context) ([]Service, error) {
	return get[[]Service](ctx, c, PathServices)
}

// VRRP returns the VRRP instances' state.
func (c *Client) VRRP(ctx context.Context) ([]vrrp.InstanceStatus, error) {
	return get[[]vrrp.InstanceStatus](ctx, c, PathVRRP)
}

// HTTP returns the L7 proxy's state and counters.
func (c *Client) HTTP(ctx context.Context) (l7.Status, error) {
	return get[l7.Status](ctx, c, PathHTTP)
}

func (c *Client) Conns(ctx context.Context) ([]Conn, error) { return get[[]Conn](ctx, c, PathConns) }
func (c *Client) Timeouts(ctx context.Context) (Timeouts, error) {
	return get[Timeouts](ctx, c, PathTimeouts)
}
func (c *Client) AddService(ctx context.Context, s Service) error {
	return c.do(ctx, http.MethodPost, PathAddService, s, nil)
}
func (c *Client) EditService(ctx context.Context, s Service) error {
	return c.do(ctx, http.MethodPost, PathEditService, s, nil)
}
func (c *Client) DeleteService(ctx context.Context, k ServiceKey) error {
	return c.do(ctx, http.MethodPost, PathDeleteService, k, nil)
}
func (c *Client) Clear(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, PathClear, struct{}{}, nil)
}
func (c *Client) AddReal(ctx context.Context, k ServiceKey, r Real) error {
	return c.do(ctx, http.MethodPost, PathAddReal, RealRequest{k, r}, nil)
}
func (c *Client) EditReal(ctx context.Context, k ServiceKey, r Real) error {
	return c.do(ctx, http.MethodPost, PathEditReal, RealRequest{k, r}, nil)
}
func (c *Client) DeleteReal(ctx context.Context, k ServiceKey, address string) error {
	return c.do(ctx, http.MethodPost, PathDeleteReal, RealRequest{Service: k, Real: Real{Address: address}}, nil)
}
func (c *Client) Zero(ctx context.Context, k *ServiceKey) error {
	return c.do(ctx, http.MethodPost, PathZero, ZeroRequest{Service: k}, nil)
}
func (c *Client) SetTimeouts(ctx context.Context, t Timeouts) error {
	return c.do(ctx, http.MethodPost, PathSetTimeouts, t, nil)
}
func (c *Client) Reload(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, PathReload, struct{}{}, nil)
}
