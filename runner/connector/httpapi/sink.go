package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/connector/httpapi/transport"
)

// Sink modes of SinkConfig.Mode.
const (
	ModeUpsert          = "Upsert"
	ModeBatch           = "Batch"
	ModeLookupThenWrite = "LookupThenWrite"
)

// Delete modes of SinkConfig.DeleteMode.
const (
	DeleteIgnore = "Ignore"
	DeleteSoft   = "SoftDelete"
	DeleteHard   = "Delete"
)

// DefaultSinkConcurrency is how many records Upsert and LookupThenWrite modes write at
// once when SinkOptions.Concurrency is not set.
const DefaultSinkConcurrency = 4

// createAttempts bounds the creates of one record in LookupThenWrite mode whose answer was
// lost (a 5xx or a broken connection): each new attempt searches again first.
const createAttempts = 3

// Record error reasons of the sink.
const (
	// ReasonDuplicates: several objects hold the record's key; nothing was written.
	ReasonDuplicates = "duplicate objects for key"
	// ReasonNoResult: a batch answer had neither a result nor an error for the record.
	ReasonNoResult = "no result for record"
	// ReasonNotEncodable: a value could not be encoded as JSON.
	ReasonNotEncodable = "not encodable as JSON"
)

// SinkConfig says where and how a Sink writes; see Sink for how each field is used.
// Credentials, headers and retries belong to the client.
type SinkConfig struct {
	// Mode is ModeUpsert, ModeBatch or ModeLookupThenWrite.
	Mode string
	// URL is the upsert template holding "{key}" (Upsert), the batch endpoint (Batch) or the
	// collection to create in (LookupThenWrite): absolute http or https.
	URL string
	// Method of Upsert mode: PUT or PATCH; required for Upsert.
	Method string
	// SearchURL is a template holding "{key}" that lists the objects holding that key;
	// required for LookupThenWrite.
	SearchURL string
	// UpdateURL is a template holding "{id}" of the object to PATCH; required for
	// LookupThenWrite.
	UpdateURL string
	// KeysURL, optional, is a template holding "{after}" that lists the keys after it in
	// byte order (see Sink.Keys).
	KeysURL string
	// SourceUpdatedAtField is the object field that stores the source updatedAt; required.
	SourceUpdatedAtField string
	// BatchSize bounds the records per batch request; at least 1 for Batch.
	BatchSize int
	// KeyField is the object field holding WriteRecord.Key; required.
	KeyField string
	// Fields are the fields written from WriteRecord.Values (the mapping targets). A field
	// missing from a record's Values is written as null; Values not listed are not written.
	// Empty writes every value of each record.
	Fields []string
	// DeleteMode decides what a WriteRecord with Deleted does: DeleteIgnore writes nothing
	// and reports Unchanged; DeleteSoft upserts the record with DeleteField set to its
	// SourceUpdatedAt (other records send DeleteField null); DeleteHard removes the object
	// (Upsert and LookupThenWrite modes only). Required.
	DeleteMode string
	// DeleteField is the field set under DeleteSoft; required for it.
	DeleteField string
	// CountURL, if set, is a template holding "{from}" and "{to}" (RFC 3339 times) whose
	// answer is how many objects hold a source updatedAt in [from, to] (the drift check's
	// count): {"count": n} or a bare number. Empty: the sink cannot count.
	CountURL string
	// StaleWhen declares the answers that mean a stale write (the API holds a newer source
	// version). nil: none does, and every 409 or 412 is a record error.
	StaleWhen *StaleMatch
}

// matches reports whether an answer of status with one of texts (the body, the message,
// a code) declares a stale write. A nil match matches nothing.
func (m *StaleMatch) matches(status int, texts ...string) bool {
	if m == nil || m.BodyContains == "" || !slices.Contains(m.Statuses, status) {
		return false
	}
	for _, t := range texts {
		if strings.Contains(t, m.BodyContains) {
			return true
		}
	}
	return false
}

// validate reports the first wrong field of the match, by its SyncJob name.
func (m *StaleMatch) validate() error {
	if m == nil {
		return nil
	}
	if len(m.Statuses) == 0 {
		return errors.New("staleWhen.status must list 409 or 412")
	}
	for _, st := range m.Statuses {
		if st != http.StatusConflict && st != http.StatusPreconditionFailed {
			return fmt.Errorf("staleWhen.status may list only 409 and 412, not %d", st)
		}
	}
	if m.BodyContains == "" {
		return errors.New("staleWhen.bodyContains must be set")
	}
	return nil
}

// StaleMatch declares how the API says a write is stale: one of Statuses, and an answer
// (for a batch, the record's error entry: its code or message) containing BodyContains.
type StaleMatch struct {
	// Statuses that may mean stale: 409 and/or 412; at least one.
	Statuses []int
	// BodyContains is the text (case-sensitive) the answer must contain; required.
	BodyContains string
}

// Validate reports the first field of the config that is missing or wrong, by name.
func (c SinkConfig) Validate() error {
	if c.KeyField == "" {
		return errors.New("keyField must be set")
	}
	if c.SourceUpdatedAtField == "" {
		return errors.New("sourceUpdatedAtField must be set")
	}
	if err := c.StaleWhen.validate(); err != nil {
		return err
	}
	if c.CountURL != "" {
		if err := checkTemplate("countUrl", c.CountURL, "{from}"); err != nil {
			return err
		}
		if err := checkTemplate("countUrl", c.CountURL, "{to}"); err != nil {
			return err
		}
	}
	switch c.DeleteMode {
	case DeleteIgnore, DeleteHard:
	case DeleteSoft:
		if c.DeleteField == "" {
			return errors.New("deleteField is required for SoftDelete")
		}
	default:
		return fmt.Errorf("deleteMode must be Ignore, SoftDelete or Delete, not %q", c.DeleteMode)
	}
	switch c.Mode {
	case ModeUpsert:
		if err := checkTemplate("url", c.URL, "{key}"); err != nil {
			return err
		}
		if c.Method != http.MethodPut && c.Method != http.MethodPatch {
			return fmt.Errorf("method must be PUT or PATCH, not %q", c.Method)
		}
	case ModeBatch:
		if err := checkTemplate("url", c.URL, ""); err != nil {
			return err
		}
		if c.BatchSize < 1 {
			return fmt.Errorf("batchSize must be at least 1, not %d", c.BatchSize)
		}
		if c.DeleteMode == DeleteHard {
			return errors.New("deleteMode Delete needs a per-key URL: use mode Upsert or LookupThenWrite, or deleteMode SoftDelete")
		}
	case ModeLookupThenWrite:
		if err := checkTemplate("url", c.URL, ""); err != nil {
			return err
		}
		if err := checkTemplate("searchUrl", c.SearchURL, "{key}"); err != nil {
			return err
		}
		if err := checkTemplate("updateUrl", c.UpdateURL, "{id}"); err != nil {
			return err
		}
	default:
		return fmt.Errorf("mode must be Upsert, Batch or LookupThenWrite, not %q", c.Mode)
	}
	for _, f := range []struct{ field, tpl string }{{"searchUrl", c.SearchURL}, {"updateUrl", c.UpdateURL}, {"countUrl", c.CountURL}} {
		if err := sameOrigin(f.field, f.tpl, c.URL); err != nil {
			return err
		}
	}
	return nil
}

// SinkOptions tune a Sink. The zero value is usable.
type SinkOptions struct {
	// Concurrency bounds the requests in flight in Upsert and LookupThenWrite modes
	// (DefaultSinkConcurrency when not positive). The client's rate limiter still applies.
	Concurrency int
	// Logger receives a debug line per batch. It never receives values, headers or queries.
	Logger logr.Logger
}

// Sink upserts records through a JSON REST API by external key. It implements
// connector.Sink, connector.KeyReader (Upsert and LookupThenWrite modes) and
// connector.Counter (with a CountURL), and is safe for concurrent use. Its requests go through the transport
// client: auth, the run's rate limit, and retries of 429, 5xx and network errors.
//
// # Modes
//
//   - Upsert: one Method (PUT or PATCH) request per record to URL with "{key}"
//     replaced by the key (escaped). Up to Concurrency records are in flight; records of
//     one key are written one after the other, in batch order.
//   - Batch: POST URL with up to BatchSize records,
//     {"inputs": [{"idProperty": <key field>, "id": <key>, "properties": {...}}]} (a key
//     repeated in the batch goes into the next request, so answers match inputs). The
//     answer's "errors" are matched to inputs by "id" and its "results" by the key field
//     (at the top of an object or in its "properties"). A record in neither is Failed
//     ("no result for record"): it is never assumed written.
//   - LookupThenWrite: GET SearchURL ("{key}") and read the "results" array (or the
//     body, when it is an array); results carrying the key field with another value are
//     ignored. None: POST the record to URL. One: PATCH UpdateURL with "{id}"
//     replaced by the result's "id". Several: the record fails ("duplicate objects for
//     key") and nothing is written. A create whose answer was lost (5xx, a broken
//     connection) is not blindly retried: the key is searched again first, so reruns never
//     create duplicates as long as the search is consistent. Two writers creating the same
//     key at once would both see no object and both create: the run lock (one runner per
//     SyncJob) is what prevents that, together with writing the records of one key one
//     after the other.
//
// A single-record body is the record's values as a JSON object, plus the key field and
// SourceUpdatedAtField (the source updatedAt, RFC 3339 with its full fraction); batch
// properties carry the values and the source updatedAt. Values are encoded as: decimals
// as JSON numbers with their exact text, times as RFC 3339 UTC strings, JSON as is.
//
// # Outcomes
//
// A 2xx answer is Written, or Unchanged when the answer says so (a "result": "unchanged"
// or "unchanged": true in the object, or a 304). An answer matching SinkConfig.StaleWhen
// (a declared 409 or 412 whose body holds the declared text) is Stale: the API refused an
// older source version (its message is in Result.Err); a 409 or 412 that names several
// objects ("ids", or a code about multiple matches or duplicates) is Failed as duplicates.
// Any other 3xx or 4xx (an undeclared 409 or 412 included) for one record is Failed with a *connector.RecordError (Field: the key
// field, or the field a batch error names; Reason "rejected by the API (<status>)";
// Detail: the API's message, with credentials redacted); the other records still land.
//
// Upsert returns an error, and no results, when the batch is not confirmed as a whole: a
// 429 (wrapping connector.ErrRateLimited) or 5xx after the client's retries, a network
// error, a 401, 403 or 407 (credentials, not a record, are at fault), a batch request
// refused as a whole, an answer that cannot be read, or the context's end. Records
// written before the error are rewritten by the next run, idempotently.
//
// # Deletes
//
// See SinkConfig.DeleteMode. Delete sends DELETE to URL with the key (Upsert mode), or
// searches the key and DELETEs UpdateURL with the id (LookupThenWrite mode); a 404
// or 410, or no object, means already gone: Written. Deletes are not guarded against
// staleness: an API cannot compare the source version of an object it no longer has.
type Sink struct {
	cfg         SinkConfig
	client      *transport.Client
	concurrency int
	log         logr.Logger
}

var (
	_ connector.Sink           = (*Sink)(nil)
	_ connector.KeyReader      = (*Sink)(nil)
	_ connector.KeyReadCapable = (*Sink)(nil)
	_ connector.Counter        = (*Sink)(nil)
	_ connector.CountCapable   = (*Sink)(nil)
)

// NewSink checks the config (SinkConfig.Validate) and makes a sink that sends its requests
// through client, which carries the auth, headers, retries and rate limit.
func NewSink(cfg SinkConfig, client *transport.Client, opts SinkOptions) (*Sink, error) {
	if client == nil {
		return nil, errors.New("no HTTP client")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultSinkConcurrency
	}
	return &Sink{cfg: cfg, client: client, concurrency: opts.Concurrency, log: opts.Logger}, nil
}

// checkTemplate requires an absolute http(s) URL holding the placeholder (when given).
func checkTemplate(field, tpl, placeholder string) error {
	if placeholder != "" && !strings.Contains(tpl, placeholder) {
		return fmt.Errorf("%s must be an absolute http or https URL holding %q", field, placeholder)
	}
	u, err := url.Parse(strings.ReplaceAll(tpl, placeholder, "x"))
	if placeholder == "" {
		u, err = url.Parse(tpl)
	}
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		if placeholder == "" {
			return fmt.Errorf("%s must be an absolute http or https URL", field)
		}
		return fmt.Errorf("%s must be an absolute http or https URL holding %q", field, placeholder)
	}
	return nil
}

// expand replaces placeholder in tpl by value, query-escaped where the placeholder sits
// in the query and path-escaped elsewhere.
func expand(tpl, placeholder, value string) string {
	q := strings.Index(tpl, "?")
	var b strings.Builder
	for {
		i := strings.Index(tpl, placeholder)
		if i < 0 {
			b.WriteString(tpl)
			return b.String()
		}
		b.WriteString(tpl[:i])
		if q >= 0 && b.Len() > q {
			b.WriteString(url.QueryEscape(value))
		} else {
			b.WriteString(url.PathEscape(value))
		}
		tpl = tpl[i+len(placeholder):]
	}
}

// Close does nothing: the client belongs to the caller.
func (s *Sink) Close() error { return nil }

// Upsert writes the batch; see Sink for the outcomes and when the whole batch fails.
func (s *Sink) Upsert(ctx context.Context, batch []connector.WriteRecord) ([]connector.Result, error) {
	results := make([]connector.Result, len(batch))
	var err error
	if s.cfg.Mode == ModeBatch {
		err = s.upsertBatches(ctx, batch, results)
	} else {
		err = s.upsertEach(ctx, batch, results)
	}
	if err != nil {
		return nil, fmt.Errorf("upsert %d records (%s): %w", len(batch), s.cfg.Mode, err)
	}
	if s.log.V(1).Enabled() {
		var n [4]int
		for _, r := range results {
			if int(r.Outcome) < len(n) {
				n[r.Outcome]++
			}
		}
		s.log.V(1).Info("upserted", "mode", s.cfg.Mode, "records", len(batch),
			"written", n[connector.Written], "unchanged", n[connector.Unchanged], "stale", n[connector.Stale], "failed", n[connector.Failed])
	}
	return results, nil
}

// upsertEach writes record by record with up to s.concurrency workers. The records of one
// key form one unit of work, written in batch order. The first batch-level error stops
// the other workers and is returned.
func (s *Sink) upsertEach(ctx context.Context, batch []connector.WriteRecord, results []connector.Result) error {
	var units [][]int
	byKey := make(map[string]int, len(batch))
	for i, rec := range batch {
		u, ok := byKey[rec.Key]
		if !ok {
			u = len(units)
			byKey[rec.Key] = u
			units = append(units, nil)
		}
		units[u] = append(units[u], i)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		once     sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	work := make(chan []int)
	for range min(s.concurrency, len(units)) {
		wg.Go(func() {
			for unit := range work {
				for _, i := range unit {
					res, err := s.writeOne(ctx, batch[i])
					if err != nil {
						once.Do(func() { firstErr = err; cancel() })
						break
					}
					results[i] = res
				}
			}
		})
	}
feed:
	for _, unit := range units {
		select {
		case work <- unit:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return context.Cause(ctx)
}

// writeOne writes one record in Upsert or LookupThenWrite mode. The error is batch-level.
func (s *Sink) writeOne(ctx context.Context, rec connector.WriteRecord) (connector.Result, error) {
	if rec.Deleted {
		switch s.cfg.DeleteMode {
		case DeleteIgnore:
			return connector.Result{Outcome: connector.Unchanged}, nil
		case DeleteHard:
			return s.deleteOne(ctx, rec)
		}
	}
	body, err := s.encode(rec, true)
	if err != nil {
		return failed(rec, s.cfg.KeyField, ReasonNotEncodable, err.Error()), nil
	}
	if s.cfg.Mode == ModeLookupThenWrite {
		return s.lookupThenWrite(ctx, rec, body)
	}
	resp, err := s.client.Do(ctx, transport.Request{
		Method: s.cfg.Method,
		URL:    expand(s.cfg.URL, "{key}", rec.Key),
		Body:   body,
		Header: jsonHeader,
		Accept: []int{http.StatusNotModified},
	})
	if err != nil {
		return s.classify(rec, err)
	}
	return writtenOrUnchanged(resp), nil
}

// jsonHeader marks a pre-encoded JSON body.
var jsonHeader = http.Header{"Content-Type": {"application/json"}}

// deleteOne removes the object of a deleted record (DeleteMode Delete).
func (s *Sink) deleteOne(ctx context.Context, rec connector.WriteRecord) (connector.Result, error) {
	target := expand(s.cfg.URL, "{key}", rec.Key)
	if s.cfg.Mode == ModeLookupThenWrite {
		ids, err := s.search(ctx, rec.Key)
		if err != nil {
			return s.classify(rec, err)
		}
		switch len(ids) {
		case 0:
			return connector.Result{Outcome: connector.Written}, nil
		case 1:
			target = expand(s.cfg.UpdateURL, "{id}", ids[0])
		default:
			return s.duplicates(rec, ids), nil
		}
	}
	_, err := s.client.Do(ctx, transport.Request{
		Method: http.MethodDelete,
		URL:    target,
		Accept: []int{http.StatusNotFound, http.StatusGone},
	})
	if err != nil {
		return s.classify(rec, err)
	}
	return connector.Result{Outcome: connector.Written}, nil
}

// encode renders a record's body: its values, the source updatedAt, the soft-delete field
// under SoftDelete and, when withKey, the key field.
func (s *Sink) encode(rec connector.WriteRecord, withKey bool) ([]byte, error) {
	obj := make(map[string]any, len(rec.Values)+3)
	if s.cfg.Fields == nil {
		for k, v := range rec.Values {
			obj[k] = wireValue(v)
		}
	} else {
		for _, f := range s.cfg.Fields {
			obj[f] = wireValue(rec.Values[f])
		}
	}
	if withKey {
		obj[s.cfg.KeyField] = rec.Key
	}
	if !rec.SourceUpdatedAt.IsZero() {
		obj[s.cfg.SourceUpdatedAtField] = rec.SourceUpdatedAt.UTC().Format(time.RFC3339Nano)
	}
	if s.cfg.DeleteMode == DeleteSoft {
		obj[s.cfg.DeleteField] = nil
		if rec.Deleted {
			obj[s.cfg.DeleteField] = rec.SourceUpdatedAt.UTC().Format(time.RFC3339Nano)
		}
	}
	return transport.EncodeJSON(obj)
}

// wireValue renders a mapped value for JSON: decimals as numbers with their exact text,
// times as RFC 3339 UTC strings, JSON documents as they are.
func wireValue(v any) any {
	switch x := v.(type) {
	case connector.Decimal:
		return json.Number(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case connector.JSON:
		if x == nil {
			return nil
		}
		return json.RawMessage(x)
	}
	return v
}

// writtenOrUnchanged reads a 2xx (or 304) answer of a single write.
func writtenOrUnchanged(resp *transport.Response) connector.Result {
	if resp.Status == http.StatusNotModified {
		return connector.Result{Outcome: connector.Unchanged}
	}
	if len(resp.Body) > 0 {
		if doc, err := resp.JSON(); err == nil && saysUnchanged(doc) {
			return connector.Result{Outcome: connector.Unchanged}
		}
	}
	return connector.Result{Outcome: connector.Written}
}

// saysUnchanged reports whether an object answer says the write changed nothing:
// "result": "unchanged" or "unchanged": true.
func saysUnchanged(doc any) bool {
	obj, ok := doc.(map[string]any)
	if !ok {
		return false
	}
	if r, ok := obj["result"].(string); ok && strings.EqualFold(r, "unchanged") {
		return true
	}
	u, ok := obj["unchanged"].(bool)
	return ok && u
}

// classify turns a request error into a record outcome, or returns it as batch-level.
func (s *Sink) classify(rec connector.WriteRecord, err error) (connector.Result, error) {
	var se *transport.StatusError
	if !errors.As(err, &se) {
		return connector.Result{}, err
	}
	switch {
	case se.Code == http.StatusTooManyRequests || se.Code >= 500,
		se.Code == http.StatusUnauthorized, se.Code == http.StatusForbidden,
		se.Code == http.StatusProxyAuthRequired:
		return connector.Result{}, err
	case se.Code == http.StatusMultipleChoices:
		return failed(rec, s.cfg.KeyField, ReasonDuplicates, se.Message), nil
	case (se.Code == http.StatusConflict || se.Code == http.StatusPreconditionFailed) && manyMatches("", se.Message, false):
		return failed(rec, s.cfg.KeyField, ReasonDuplicates, se.Message), nil
	case s.cfg.StaleWhen.matches(se.Code, se.Body, se.Message):
		return stale(rec, s.cfg.KeyField, se.Code, se.Message), nil
	}
	return failed(rec, s.cfg.KeyField, rejected(se.Code), se.Message), nil
}

// manyMatches reports whether an error answer is about several objects holding the key
// rather than a stale version.
func manyMatches(code, message string, hasIDs bool) bool {
	if hasIDs {
		return true
	}
	for _, s := range []string{code, message} {
		s = strings.ToLower(s)
		if strings.Contains(s, "multiple") || strings.Contains(s, "duplicate") {
			return true
		}
	}
	return false
}

// rejected is the reason of a record the API refused with status code.
func rejected(code int) string { return fmt.Sprintf("rejected by the API (%d)", code) }

func failed(rec connector.WriteRecord, field, reason, detail string) connector.Result {
	return connector.Result{Outcome: connector.Failed, Err: &connector.RecordError{ID: rec.SourceID, Field: field, Reason: reason, Detail: detail}}
}

func stale(rec connector.WriteRecord, field string, code int, detail string) connector.Result {
	return connector.Result{Outcome: connector.Stale, Err: &connector.RecordError{ID: rec.SourceID, Field: field,
		Reason: fmt.Sprintf("stale write refused by the API (%d)", code), Detail: detail}}
}

// duplicates is the outcome of a key held by several objects.
func (s *Sink) duplicates(rec connector.WriteRecord, ids []string) connector.Result {
	shown := ids
	if len(shown) > 5 {
		shown = shown[:5]
	}
	return failed(rec, s.cfg.KeyField, ReasonDuplicates, s.client.Redact(fmt.Sprintf("%d objects hold %s %s: %s",
		len(ids), s.cfg.KeyField, rec.Key, strings.Join(shown, ", "))))
}
