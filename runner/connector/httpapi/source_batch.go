package httpapi

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// fetchBatches gets the records of ids through GetByIDsURL, GetByIDsMax ids per request
// (duplicates asked once). "{ids}" is replaced by the ids joined with commas, each
// query-escaped (path-escaped when "{ids}" is in the path), so an id holding a comma
// cannot split. The answer is a list page: the records at recordsPath, in any order. A
// requested id absent from the answer is a record the API no longer has (as a 404 is for
// GetByIDURL). A record whose id was not asked for fails the fetch: the API did not filter
// by the ids (a wrong parameter name), and its absent ids must not pass for gone. A record
// without a usable id or time fails the fetch too, naming the ids of the request.
func (s *Source) fetchBatches(ctx context.Context, ids []string) ([]connector.Record, error) {
	tpl := s.cfg.GetByIDsURL
	inQuery := strings.Contains(tpl, "?") && strings.Index(tpl, "{ids}") > strings.Index(tpl, "?")
	uniq := make([]string, 0, len(ids))
	seen := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		if _, dup := seen[id]; !dup {
			seen[id] = struct{}{}
			uniq = append(uniq, id)
		}
	}
	out := make([]connector.Record, 0, len(uniq))
	for lo := 0; lo < len(uniq); lo += s.cfg.GetByIDsMax {
		chunk := uniq[lo:min(lo+s.cfg.GetByIDsMax, len(uniq))]
		recs, err := s.fetchBatch(ctx, tpl, inQuery, chunk)
		if err != nil {
			return nil, fmt.Errorf("fetch %d records by id (%s ... %s): %w", len(chunk), chunk[0], chunk[len(chunk)-1], err)
		}
		out = append(out, recs...)
	}
	return out, nil
}

// fetchBatch is one GetByIDsURL request for chunk.
func (s *Source) fetchBatch(ctx context.Context, tpl string, inQuery bool, chunk []string) ([]connector.Record, error) {
	esc := make([]string, len(chunk))
	for i, id := range chunk {
		if inQuery {
			esc[i] = url.QueryEscape(id)
		} else {
			esc[i] = url.PathEscape(id)
		}
	}
	u := strings.ReplaceAll(tpl, "{ids}", strings.Join(esc, ","))
	doc, _, err := s.client.GetJSON(ctx, u, nil)
	if err != nil {
		return nil, err
	}
	items, err := s.records(doc)
	if err != nil {
		return nil, err
	}
	want := make(map[string]bool, len(chunk))
	for _, id := range chunk {
		want[id] = true
	}
	out := make([]connector.Record, 0, len(chunk))
	for i, item := range items {
		rec, err := s.parseRecord(item)
		if err != nil {
			return nil, recordAt(i, err)
		}
		taken, asked := want[rec.ID]
		if !asked {
			// An API that ignores the ids filter answers a list page: its ids absent from
			// it would pass for gone, and their failed keys would be dropped.
			return nil, fmt.Errorf("the answer holds record %s, which was not asked for: the API does not filter by the ids of getByIdsUrl", rec.ID)
		}
		if !taken {
			continue // the same record again in this answer
		}
		want[rec.ID] = false
		out = append(out, rec)
	}
	s.log.V(1).Info("fetched records by id", "asked", len(chunk), "found", len(out))
	return out, nil
}
