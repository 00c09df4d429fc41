package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Payload is the JSON body posted to the webhook for every notification.
// Subject is the event's subject without the router id prefix, which has
// its own field.
type Payload struct {
	Time     time.Time `json:"time"`
	RouterID string    `json:"router_id"`
	Kind     string    `json:"kind"`
	Object   string    `json:"object"`
	State    string    `json:"state"`
	Subject  string    `json:"subject"`
	Body     string    `json:"body"`
}

func (n *Notifier) payload(ev Event) Payload {
	return Payload{
		Time:     ev.Time.UTC(),
		RouterID: n.routerID,
		Kind:     ev.Kind,
		Object:   ev.Object,
		State:    ev.State,
		Subject:  ev.Subject,
		Body:     ev.Body,
	}
}

// webhook posts payloads with a per-attempt timeout and one retry.
type webhook struct {
	url        string // "" when off
	redacted   string // for logs
	client     *http.Client
	timeout    time.Duration
	retryDelay time.Duration
}

func (w *webhook) configure(raw string, client *http.Client, timeout time.Duration) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("notify: webhook: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("notify: webhook %q: need an http or https URL with a host", u.Redacted())
	}
	w.url, w.redacted = raw, u.Redacted()
	w.client = client
	if w.client == nil {
		// A redirect would turn the POST into a GET; report it instead.
		w.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}
	}
	w.timeout = timeout
	if w.timeout <= 0 {
		w.timeout = DefaultWebhookTimeout
	}
	w.retryDelay = defaultRetryDelay
	return nil
}

func (w *webhook) enabled() bool { return w.url != "" }

// post sends p, retrying once after a transport error, a timeout, 408, 429
// or a 5xx; other statuses are final.
func (w *webhook) post(ctx context.Context, p Payload) error {
	// No HTML escaping: bodies such as "=> Lost quorum <=" stay readable.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return fmt.Errorf("webhook: encode: %w", err)
	}
	body := buf.Bytes()
	err := w.attempt(ctx, body)
	var perm *permanentError
	if err == nil || errors.As(err, &perm) {
		return err
	}
	t := time.NewTimer(w.retryDelay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("webhook: %w (retry abandoned: %w)", err, ctx.Err())
	case <-t.C:
	}
	if err2 := w.attempt(ctx, body); err2 != nil {
		return fmt.Errorf("webhook: retry: %w (first attempt: %w)", err2, err)
	}
	return nil
}

// permanentError is a failure a retry would not fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func (w *webhook) attempt(ctx context.Context, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return &permanentError{err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "fulcrum-notify")
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return nil
	case s >= 500 || s == http.StatusRequestTimeout || s == http.StatusTooManyRequests:
		return fmt.Errorf("status %d %s", s, http.StatusText(s))
	default:
		return &permanentError{fmt.Errorf("status %d %s", s, http.StatusText(s))}
	}
}
