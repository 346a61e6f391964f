package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/connector/httpapi/transport"
)

// CanReadByKey is false in Batch mode, which has no per-key URL.
func (s *Sink) CanReadByKey() bool { return s.cfg.Mode != ModeBatch }

// CanCount is true when the sink has a CountURL.
func (s *Sink) CanCount() bool { return s.cfg.CountURL != "" }

// ReadByKeys reads the objects holding these keys, for the drift check: in Upsert mode a
// GET of URL with "{key}" (the same address the upsert writes), in LookupThenWrite mode a
// GET of SearchURL. Up to the sink's concurrency requests are in flight. A key with no
// object (404, no search result), with several objects, or whose object is soft-deleted
// (DeleteField set under DeleteSoft) is absent. Values are the object's fields (in its
// "properties" when it has them) as decoded JSON (numbers as json.Number, times as
// strings); the drift check compares them by value. Batch mode has no per-key address:
// it returns an error.
func (s *Sink) ReadByKeys(ctx context.Context, keys []string) ([]connector.SinkRecord, error) {
	if s.cfg.Mode == ModeBatch {
		return nil, errors.New("mode Batch has no per-key URL to read objects by key")
	}
	found := make([]*connector.SinkRecord, len(keys))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		once     sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	work := make(chan int)
	for range min(s.concurrency, len(keys)) {
		wg.Go(func() {
			for i := range work {
				rec, err := s.readOne(ctx, keys[i])
				if err != nil {
					once.Do(func() { firstErr = err; cancel() })
					continue
				}
				found[i] = rec
			}
		})
	}
feed:
	for i := range keys {
		select {
		case work <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return nil, fmt.Errorf("read %d objects by key: %w", len(keys), firstErr)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []connector.SinkRecord
	for _, r := range found {
		if r != nil {
			out = append(out, *r)
		}
	}
	return out, nil
}

// readOne reads the object of one key; nil when there is none (or several).
func (s *Sink) readOne(ctx context.Context, key string) (*connector.SinkRecord, error) {
	target := expand(s.cfg.URL, "{key}", key)
	if s.cfg.Mode == ModeLookupThenWrite {
		target = expand(s.cfg.SearchURL, "{key}", key)
	}
	resp, err := s.client.Do(ctx, transport.Request{URL: target, Accept: []int{http.StatusNotFound, http.StatusMultipleChoices}})
	if err != nil {
		return nil, err
	}
	if resp.Status == http.StatusNotFound || resp.Status == http.StatusMultipleChoices {
		return nil, nil
	}
	doc, err := resp.JSON()
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", key, err)
	}
	var obj map[string]any
	if s.cfg.Mode == ModeLookupThenWrite {
		list, ok := doc.([]any)
		if !ok {
			v, _ := transport.Lookup(doc, "results")
			list, _ = v.([]any)
		}
		var matches []map[string]any
		for _, item := range list {
			o, ok := item.(map[string]any)
			if !ok {
				continue
			}
			if k, ok := objectKey(o, s.cfg.KeyField); ok && k != key {
				continue
			}
			matches = append(matches, o)
		}
		if len(matches) != 1 {
			return nil, nil
		}
		obj = matches[0]
	} else {
		o, ok := doc.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("key %s: the answer is not an object", key)
		}
		obj = o
	}
	fields := obj
	if p, ok := obj["properties"].(map[string]any); ok {
		fields = p
	}
	if s.cfg.DeleteMode == DeleteSoft && fields[s.cfg.DeleteField] != nil {
		return nil, nil
	}
	rec := &connector.SinkRecord{Key: key, Values: map[string]any{}}
	if str, ok := fields[s.cfg.SourceUpdatedAtField].(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, str); err == nil {
			rec.SourceUpdatedAt = t.UTC()
		}
	}
	if s.cfg.Fields == nil {
		for k, v := range fields {
			if k != s.cfg.KeyField && k != s.cfg.SourceUpdatedAtField {
				rec.Values[k] = v
			}
		}
		return rec, nil
	}
	for _, f := range s.cfg.Fields {
		rec.Values[f] = fields[f]
	}
	return rec, nil
}

// CountWindow asks CountURL (with "{from}" and "{to}" replaced by RFC 3339 times) how many
// objects hold a source updatedAt in [from, to]; the answer is {"count": n} or a bare
// number. Under DeleteSoft the endpoint is expected to leave soft-deleted objects out (the
// URL says how, for example a filter on DeleteField).
func (s *Sink) CountWindow(ctx context.Context, from, to time.Time) (int64, error) {
	if s.cfg.CountURL == "" {
		return 0, errors.New("no countUrl")
	}
	u := expand(expand(s.cfg.CountURL, "{from}", from.UTC().Format(time.RFC3339Nano)), "{to}", to.UTC().Format(time.RFC3339Nano))
	resp, err := s.client.Do(ctx, transport.Request{URL: u})
	if err != nil {
		return 0, fmt.Errorf("count objects: %w", err)
	}
	doc, err := resp.JSON()
	if err != nil {
		return 0, fmt.Errorf("count objects: %w", err)
	}
	if obj, ok := doc.(map[string]any); ok {
		doc = obj["count"]
	}
	str, _ := scalarString(doc)
	n, err := strconv.ParseInt(str, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("count objects: the answer holds no count (want {\"count\": n} or a number)")
	}
	return n, nil
}
