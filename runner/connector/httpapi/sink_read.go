package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/connector/httpapi/transport"
)

// ReadByKeys returns what the API holds for keys, one request per key: in Upsert mode a
// GET of the upsert URL (an upsert-by-external-id endpoint answers GET with the object, a
// 404 when none holds the key); in the other modes the search URL, when set. An object's
// values are its "properties" when it has them, else its top-level fields; its stored
// source updatedAt is SourceUpdatedAtField among them. Keys no object holds are absent;
// several objects holding one key are an error naming it.
func (s *Sink) ReadByKeys(ctx context.Context, keys []string) ([]connector.SinkRecord, error) {
	var out []connector.SinkRecord
	for _, key := range keys {
		obj, found, err := s.readKey(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("read key %s: %w", key, err)
		}
		if !found {
			continue
		}
		values := obj
		if props, ok := obj["properties"].(map[string]any); ok {
			values = props
		}
		rec := connector.SinkRecord{Key: key, Values: map[string]any{}}
		for k, v := range values {
			if k == s.cfg.KeyField {
				continue
			}
			if k == s.cfg.SourceUpdatedAtField {
				if str, ok := v.(string); ok {
					if t, err := time.Parse(time.RFC3339Nano, str); err == nil {
						rec.SourceUpdatedAt = t.UTC()
					}
				}
				continue
			}
			rec.Values[k] = v
		}
		out = append(out, rec)
	}
	return out, nil
}

// readKey fetches the one object holding key.
func (s *Sink) readKey(ctx context.Context, key string) (map[string]any, bool, error) {
	if s.cfg.Mode == ModeUpsert {
		resp, err := s.client.Do(ctx, transport.Request{Method: http.MethodGet, URL: expand(s.cfg.URL, "{key}", key),
			Accept: []int{http.StatusNotFound}})
		if err != nil {
			return nil, false, err
		}
		if resp.Status == http.StatusNotFound {
			return nil, false, nil
		}
		doc, err := resp.JSON()
		if err != nil {
			return nil, false, fmt.Errorf("GET %s: %w", safeTemplateURL(s.cfg.URL), err)
		}
		obj, ok := doc.(map[string]any)
		if !ok {
			return nil, false, fmt.Errorf("GET %s: the answer is not an object", safeTemplateURL(s.cfg.URL))
		}
		return obj, true, nil
	}
	if s.cfg.SearchURL == "" {
		return nil, false, errors.New("the sink has no URL to read an object by key (Batch mode without a search URL)")
	}
	resp, err := s.client.Do(ctx, transport.Request{URL: expand(s.cfg.SearchURL, "{key}", key), Accept: []int{http.StatusNotFound}})
	if err != nil {
		return nil, false, err
	}
	if resp.Status == http.StatusNotFound {
		return nil, false, nil
	}
	doc, err := resp.JSON()
	if err != nil {
		return nil, false, fmt.Errorf("search %s: %w", safeTemplateURL(s.cfg.SearchURL), err)
	}
	list, ok := doc.([]any)
	if !ok {
		v, _ := transport.Lookup(doc, "results")
		if list, ok = v.([]any); !ok {
			return nil, false, fmt.Errorf("search %s: the answer has no results array", safeTemplateURL(s.cfg.SearchURL))
		}
	}
	var found []map[string]any
	for _, item := range list {
		obj, ok := item.(map[string]any)
		if !ok {
			continue
		}
		if k, ok := objectKey(obj, s.cfg.KeyField); ok && k != key {
			continue
		}
		found = append(found, obj)
	}
	switch len(found) {
	case 0:
		return nil, false, nil
	case 1:
		return found[0], true, nil
	}
	return nil, false, fmt.Errorf("%d objects hold the key", len(found))
}

var _ connector.KeyReader = (*Sink)(nil)
