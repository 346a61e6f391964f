package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/connector/httpapi/transport"
)

// batchInput is one input of a batch request.
type batchInput struct {
	IDProperty string          `json:"idProperty"`
	ID         string          `json:"id"`
	Properties json.RawMessage `json:"properties"`
}

// batchError is one refused input of a batch answer.
type batchError struct {
	status  int
	code    string
	message string
	field   string
	hasIDs  bool
}

// upsertBatches writes the batch in Batch mode, request after request. The error is
// batch-level.
func (s *Sink) upsertBatches(ctx context.Context, batch []connector.WriteRecord, results []connector.Result) error {
	var (
		chunk  []int
		inputs []batchInput
		keys   = map[string]bool{}
	)
	flush := func() error {
		if len(inputs) == 0 {
			return nil
		}
		err := s.postBatch(ctx, batch, chunk, inputs, results)
		chunk, inputs = chunk[:0], inputs[:0]
		clear(keys)
		return err
	}
	for i, rec := range batch {
		if rec.Deleted && s.cfg.DeleteMode == DeleteIgnore {
			results[i] = connector.Result{Outcome: connector.Unchanged}
			continue
		}
		props, err := s.encode(rec, false)
		if err != nil {
			results[i] = failed(rec, s.cfg.KeyField, ReasonNotEncodable, err.Error())
			continue
		}
		if keys[rec.Key] || len(inputs) >= s.cfg.BatchSize {
			if err := flush(); err != nil {
				return err
			}
		}
		keys[rec.Key] = true
		chunk = append(chunk, i)
		inputs = append(inputs, batchInput{IDProperty: s.cfg.KeyField, ID: rec.Key, Properties: props})
	}
	return flush()
}

// postBatch sends one batch request (no key twice) and reads the per-record answers into
// results.
func (s *Sink) postBatch(ctx context.Context, batch []connector.WriteRecord, chunk []int, inputs []batchInput, results []connector.Result) error {
	resp, err := s.client.Do(ctx, transport.Request{Method: http.MethodPost, URL: s.cfg.URL, JSON: map[string]any{"inputs": inputs}})
	if err != nil {
		return fmt.Errorf("batch of %d: %w", len(inputs), err)
	}
	doc, err := resp.JSON()
	if err != nil {
		return fmt.Errorf("batch of %d: POST %s: %w", len(inputs), safeTemplateURL(s.cfg.URL), err)
	}
	written := map[string]bool{} // key -> unchanged
	if list, ok := listAt(doc, "results"); ok {
		for _, item := range list {
			obj, ok := item.(map[string]any)
			if !ok {
				continue
			}
			if k, ok := objectKey(obj, s.cfg.KeyField); ok {
				written[k] = saysUnchanged(obj)
			}
		}
	}
	refused := map[string]batchError{}
	if list, ok := listAt(doc, "errors"); ok {
		for _, item := range list {
			if id, e, ok := s.parseBatchError(item); ok {
				refused[id] = e
			}
		}
	}
	for _, i := range chunk {
		rec := batch[i]
		if e, ok := refused[rec.Key]; ok {
			results[i] = s.batchOutcome(rec, e)
			continue
		}
		unchanged, ok := written[rec.Key]
		switch {
		case !ok:
			results[i] = failed(rec, s.cfg.KeyField, ReasonNoResult, "the batch answer lists neither a result nor an error for key "+rec.Key)
		case unchanged:
			results[i] = connector.Result{Outcome: connector.Unchanged}
		default:
			results[i] = connector.Result{Outcome: connector.Written}
		}
	}
	return nil
}

// batchOutcome turns a refused input into its outcome.
func (s *Sink) batchOutcome(rec connector.WriteRecord, e batchError) connector.Result {
	field := e.field
	if field == "" {
		field = s.cfg.KeyField
	}
	switch {
	case manyMatches(e.code, e.message, e.hasIDs):
		return failed(rec, field, ReasonDuplicates, e.message)
	case s.cfg.StaleWhen.matches(e.status, e.code, e.message):
		return stale(rec, field, e.status, e.message)
	case e.status == 0:
		return failed(rec, field, "rejected by the API", e.message)
	}
	return failed(rec, field, rejected(e.status), e.message)
}

// parseBatchError reads one entry of a batch answer's errors: the input's "id" (or the
// first of "context.id"), its "status" (a number, or a string holding one), "code" (or
// "category"), "message", and the field it names ("field", "property" or "propertyName").
func (s *Sink) parseBatchError(item any) (string, batchError, bool) {
	obj, ok := item.(map[string]any)
	if !ok {
		return "", batchError{}, false
	}
	id, ok := scalarString(obj["id"])
	if !ok {
		v, _ := transport.Lookup(obj, "context.id.0")
		if id, ok = scalarString(v); !ok {
			return "", batchError{}, false
		}
	}
	var e batchError
	if st, ok := scalarString(obj["status"]); ok {
		e.status, _ = strconv.Atoi(st)
	}
	e.code, _ = obj["code"].(string)
	if e.code == "" {
		e.code, _ = obj["category"].(string)
	}
	msg, _ := obj["message"].(string)
	e.message = s.client.Redact(msg)
	for _, k := range []string{"field", "property", "propertyName"} {
		if f, ok := obj[k].(string); ok && f != "" {
			e.field = f
			break
		}
	}
	_, e.hasIDs = obj["ids"].([]any)
	return id, e, true
}

// listAt returns the array at path in doc.
func listAt(doc any, path string) ([]any, bool) {
	v, ok := transport.Lookup(doc, path)
	if !ok {
		return nil, false
	}
	list, ok := v.([]any)
	return list, ok
}
