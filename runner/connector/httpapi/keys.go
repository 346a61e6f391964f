package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"

	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/connector/httpapi/transport"
)

// listKeys reads a key listing: template holds "{after}", replaced by the last key of the
// previous answer ("" first, escaped); each answer is a JSON array of strings or
// integers (kept in decimal form), ascending in byte order; an empty array ends it.
func listKeys(ctx context.Context, c *transport.Client, template, after, what string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		for {
			resp, err := c.Do(ctx, transport.Request{Method: "GET", URL: expand(template, "{after}", after)})
			if err != nil {
				yield("", fmt.Errorf("%s after %q: %w", what, after, err))
				return
			}
			dec := json.NewDecoder(bytes.NewReader(resp.Body))
			dec.UseNumber()
			var keys []any
			if err := dec.Decode(&keys); err != nil {
				yield("", fmt.Errorf("%s after %q: the answer is not a JSON array: %w", what, after, err))
				return
			}
			if len(keys) == 0 {
				return
			}
			for _, k := range keys {
				s, err := idString(k)
				if err != nil {
					yield("", fmt.Errorf("%s after %q: %w", what, after, err))
					return
				}
				if !yield(s, nil) {
					return
				}
				after = s
			}
		}
	}
}

// FieldValues lists the record ids through IDsURL (connector.FieldLister): field must be
// "id" or the IDPath, the only field this source can list.
func (s *Source) FieldValues(ctx context.Context, field, after string) iter.Seq2[string, error] {
	if s.cfg.IDsURL == "" || (field != "id" && field != s.cfg.IDPath) {
		return func(yield func(string, error) bool) {
			yield("", fmt.Errorf("list values of field %q: the HTTP source lists only its ids, through idsUrl", field))
		}
	}
	return listKeys(ctx, s.client, s.cfg.IDsURL, after, "list ids")
}

// Keys lists the external keys through KeysURL (connector.KeyLister).
func (s *Sink) Keys(ctx context.Context, after string) iter.Seq2[string, error] {
	if s.cfg.KeysURL == "" {
		return func(yield func(string, error) bool) {
			yield("", errors.New("the HTTP sink has no keysUrl to list its keys"))
		}
	}
	return listKeys(ctx, s.client, s.cfg.KeysURL, after, "list keys")
}

// CanListKeys reports whether the sink has a keysUrl (connector.KeyListCapable).
func (s *Sink) CanListKeys() bool { return s.cfg.KeysURL != "" }

// CanListKeys reports whether the source has an idsUrl (connector.KeyListCapable).
func (s *Source) CanListKeys() bool { return s.cfg.IDsURL != "" }

var (
	_ connector.KeyListCapable = (*Sink)(nil)
	_ connector.KeyListCapable = (*Source)(nil)
	_ connector.FieldLister    = (*Source)(nil)
	_ connector.KeyLister      = (*Sink)(nil)
)
