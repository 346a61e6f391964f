package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// api is one demo API of hack/demo-services as the demo drives it: API requests carry the
// bearer token, admin requests (under /admin/) none. The token never appears in errors.
type api struct {
	base  string
	token string
	hc    *http.Client
}

func newAPI(base, token string) *api {
	return &api{base: base, token: token, hc: &http.Client{Timeout: 30 * time.Second}}
}

// do sends body (JSON, when not nil) to base+path, requires a 2xx answer and decodes it into
// out (when not nil; JSON numbers stay json.Number).
func (a *api) do(ctx context.Context, method, path string, authenticated bool, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, r)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if authenticated {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, firstLine(string(raw)))
	}
	if out == nil || len(raw) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode the answer: %w", method, path, err)
	}
	return nil
}

// invoice is a billing invoice as the billing API sends it.
type invoice struct {
	ID         string    `json:"id"`
	CustomerID string    `json:"customer_id"`
	Status     string    `json:"status"`
	Total      string    `json:"total"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// invoices returns every billing invoice ascending by (updated_at, id).
func (a *api) invoices(ctx context.Context) ([]invoice, error) {
	var body struct {
		Data []invoice `json:"data"`
	}
	err := a.do(ctx, http.MethodGet, "/admin/invoices", false, nil, &body)
	return body.Data, err
}

// pay marks a billing invoice paid with the given updated_at.
func (a *api) pay(ctx context.Context, id string, at time.Time) (invoice, error) {
	var inv invoice
	err := a.do(ctx, http.MethodPost, "/admin/invoices/"+url.PathEscape(id)+"/pay?updated_at="+
		url.QueryEscape(at.UTC().Format(time.RFC3339Nano)), false, nil, &inv)
	return inv, err
}

// reject makes the CRM refuse every write of key with 400 and message until cleared
// (PUT /admin/rejections/{key}).
func (a *api) reject(ctx context.Context, key, message string) error {
	return a.do(ctx, http.MethodPut, "/admin/rejections/"+url.PathEscape(key), false, map[string]string{"message": message}, nil)
}

// clearRejection lets the CRM accept writes of key again (DELETE /admin/rejections/{key}).
func (a *api) clearRejection(ctx context.Context, key string) error {
	return a.do(ctx, http.MethodDelete, "/admin/rejections/"+url.PathEscape(key), false, nil, nil)
}

// faults returns a server's fault settings as its admin endpoint spells them.
func (a *api) faults(ctx context.Context) (map[string]any, error) {
	var f map[string]any
	err := a.do(ctx, http.MethodGet, "/admin/faults", false, nil, &f)
	return f, err
}

// setFaults replaces a server's fault settings (the quota starts afresh).
func (a *api) setFaults(ctx context.Context, f map[string]any) error {
	return a.do(ctx, http.MethodPut, "/admin/faults", false, f, nil)
}

// resetQuota renews a server's 429-after-N quota.
func (a *api) resetQuota(ctx context.Context) error {
	return a.do(ctx, http.MethodPost, "/admin/quota/reset", false, nil, nil)
}

// stats are a server's request counters.
type stats struct {
	Requests    int64 `json:"requests"`
	RateLimited int64 `json:"rateLimited"`
	Records     int64 `json:"records"`
}

func (a *api) stats(ctx context.Context) (stats, error) {
	var s stats
	err := a.do(ctx, http.MethodGet, "/admin/stats", false, nil, &s)
	return s, err
}

// crmObject is a CRM invoice object.
type crmObject struct {
	ID         string         `json:"id"`
	Key        string         `json:"billing_invoice_id"`
	Properties map[string]any `json:"properties"`
	Version    int            `json:"version"`
}

// prop is one property of an object as text ("" when absent).
func (o crmObject) prop(name string) string {
	v, ok := o.Properties[name]
	if !ok || v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// objects returns every live CRM invoice object in creation order.
func (a *api) objects(ctx context.Context) ([]crmObject, error) {
	var body struct {
		Results []crmObject `json:"results"`
	}
	err := a.do(ctx, http.MethodGet, "/admin/invoices", false, nil, &body)
	return body.Results, err
}

// firstObjects lists the first n CRM invoice objects through the API, as a user would.
func (a *api) firstObjects(ctx context.Context, n int) ([]crmObject, error) {
	var body struct {
		Results []crmObject `json:"results"`
	}
	err := a.do(ctx, http.MethodGet, fmt.Sprintf("/invoices?limit=%d", n), true, nil, &body)
	return body.Results, err
}

// object returns the CRM invoice object holding the external key.
func (a *api) object(ctx context.Context, key string) (crmObject, error) {
	var o crmObject
	err := a.do(ctx, http.MethodGet, "/invoices/billing_invoice_id/"+url.PathEscape(key), true, nil, &o)
	return o, err
}

// duplicates returns the external keys the CRM holds more than once.
func (a *api) duplicates(ctx context.Context) ([]string, error) {
	var body struct {
		Keys []string `json:"keys"`
	}
	err := a.do(ctx, http.MethodGet, "/admin/duplicates", false, nil, &body)
	return body.Keys, err
}

// account is a CRM account.
type account struct {
	ID                string `json:"id"`
	BillingCustomerID string `json:"billing_customer_id"`
}

// accounts returns the CRM's accounts through the API.
func (a *api) accounts(ctx context.Context) ([]account, error) {
	var body struct {
		Results []account `json:"results"`
	}
	err := a.do(ctx, http.MethodGet, "/accounts", true, nil, &body)
	return body.Results, err
}
