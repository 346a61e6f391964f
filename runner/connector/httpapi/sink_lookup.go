package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/connector/httpapi/transport"
)

// serverErrors are the 5xx statuses a create accepts as answers instead of having the
// client retry them: a failed create may have taken effect, so it is searched again first.
var serverErrors = func() []int {
	s := make([]int, 0, 100)
	for c := 500; c < 600; c++ {
		s = append(s, c)
	}
	return s
}()

// lookupThenWrite writes one record in LookupThenWrite mode: search the key, then create
// or update. A create (or update) whose answer was lost is retried after a new search, up
// to createAttempts times. The error is batch-level.
func (s *Sink) lookupThenWrite(ctx context.Context, rec connector.WriteRecord, body []byte) (connector.Result, error) {
	var lost error
	for attempt := 1; attempt <= createAttempts; attempt++ {
		ids, err := s.search(ctx, rec.Key)
		if err != nil {
			return s.classify(rec, err)
		}
		req := transport.Request{Body: body, Header: jsonHeader}
		switch len(ids) {
		case 0:
			// A create is not idempotent: its lost answers come back here, not retried.
			req.Method, req.URL = http.MethodPost, s.cfg.URL
			req.NotIdempotent, req.Accept = true, serverErrors
		case 1:
			// An update is idempotent (the client retries it), but an object deleted since
			// the search answers 404: search again rather than fail the record.
			req.Method, req.URL = http.MethodPatch, expand(s.cfg.UpdateURL, "{id}", ids[0])
			req.Accept = []int{http.StatusNotFound}
		default:
			return s.duplicates(rec, ids), nil
		}
		resp, err := s.client.Do(ctx, req)
		switch {
		case err == nil && resp.Status/100 == 2:
			return writtenOrUnchanged(resp), nil
		case err == nil:
			lost = &transport.StatusError{Method: req.Method, URL: safeTemplateURL(req.URL), Code: resp.Status,
				Message: s.client.Redact(apiText(resp.Body)), Attempts: attempt}
		case ctx.Err() != nil:
			return connector.Result{}, err
		default:
			var se *transport.StatusError
			if errors.As(err, &se) {
				return s.classify(rec, err)
			}
			lost = err // the connection broke after the request went out
		}
		s.log.V(1).Info("write answer lost; searching the key again", "method", req.Method, "attempt", attempt, "error", lost.Error())
	}
	return connector.Result{}, fmt.Errorf("record %s: %w", rec.SourceID, lost)
}

// search lists the ids of the objects holding key (LookupThenWrite mode). Results that
// carry the key field with another value are not counted: some searches match loosely.
func (s *Sink) search(ctx context.Context, key string) ([]string, error) {
	resp, err := s.client.Do(ctx, transport.Request{URL: expand(s.cfg.SearchURL, "{key}", key), Accept: []int{http.StatusNotFound}})
	if err != nil {
		return nil, err
	}
	if resp.Status == http.StatusNotFound {
		return nil, nil
	}
	doc, err := resp.JSON()
	if err != nil {
		return nil, fmt.Errorf("search %s: %w", safeTemplateURL(s.cfg.SearchURL), err)
	}
	list, ok := doc.([]any)
	if !ok {
		v, _ := transport.Lookup(doc, "results")
		if list, ok = v.([]any); !ok {
			return nil, fmt.Errorf("search %s: the answer has no results array", safeTemplateURL(s.cfg.SearchURL))
		}
	}
	var ids []string
	for i, item := range list {
		obj, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("search %s: results[%d] is not an object", safeTemplateURL(s.cfg.SearchURL), i)
		}
		if k, ok := objectKey(obj, s.cfg.KeyField); ok && k != key {
			continue
		}
		id, ok := scalarString(obj["id"])
		if !ok || id == "" {
			return nil, fmt.Errorf("search %s: results[%d] has no id", safeTemplateURL(s.cfg.SearchURL), i)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// objectKey finds an object's key field, at its top or in its "properties".
func objectKey(obj map[string]any, keyField string) (string, bool) {
	if v, ok := obj[keyField]; ok {
		return scalarString(v)
	}
	if props, ok := obj["properties"].(map[string]any); ok {
		if v, ok := props[keyField]; ok {
			return scalarString(v)
		}
	}
	return "", false
}

// scalarString renders a JSON string or number as a string.
func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	}
	return "", false
}

// apiText extracts an API's message from an error body: the "message" or "error" string of
// a JSON object, else the text itself. The caller redacts it.
func apiText(body []byte) string {
	if doc, err := transport.DecodeJSON(body); err == nil {
		if obj, ok := doc.(map[string]any); ok {
			for _, k := range []string{"message", "error", "detail"} {
				if m, ok := obj[k].(string); ok && m != "" {
					return m
				}
			}
		}
	}
	return strings.TrimSpace(string(body))
}

// safeTemplateURL renders a URL for errors without userinfo, query and fragment (which
// may hold a key or a credential).
func safeTemplateURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String()
}
