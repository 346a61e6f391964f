package httpapi

import (
	"context"
	"errors"
	"iter"
	"net/url"
	"strings"
	"time"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/connector/httpapi/transport"
)

// Tombstones reads a "deleted since" endpoint (connector.TombstoneLister): URL is a template
// holding "{since}", replaced by the time in the list's TimeFormat (query-escaped); the
// answer is paged and shaped like the list endpoint (SourceConfig's pagination, records
// path and id path), each record's deletion time at DeletedAtPath.
type Tombstones struct {
	cfg   SourceConfig
	url   string
	limit int
	c     *transport.Client
	opts  SourceOptions
}

// NewTombstones checks the template and the list configuration it borrows (list: the
// source's SourceConfig; limit: the page size asked for).
func NewTombstones(list SourceConfig, deletedURL, deletedAtPath string, limit int, client *transport.Client, opts SourceOptions) (*Tombstones, error) {
	if !strings.Contains(deletedURL, "{since}") {
		return nil, errors.New(`deletedUrl must hold "{since}"`)
	}
	if deletedAtPath == "" {
		return nil, errors.New("deletedAtPath is required")
	}
	cfg := list
	cfg.URL = strings.ReplaceAll(deletedURL, "{since}", "0")
	cfg.UpdatedAtPath = deletedAtPath
	cfg.GetByIDURL = ""
	cfg.GetByIDsURL = ""
	if _, err := NewSource(cfg, client, opts); err != nil {
		return nil, err
	}
	return &Tombstones{cfg: cfg, url: deletedURL, limit: max(limit, 1), c: client, opts: opts}, nil
}

// DeletedSince lists the tombstones the endpoint returns for since.
func (t *Tombstones) DeletedSince(ctx context.Context, since time.Time) iter.Seq2[connector.Tombstone, error] {
	return func(yield func(connector.Tombstone, error) bool) {
		cfg := t.cfg
		probe := &Source{cfg: cfg}
		cfg.URL = strings.ReplaceAll(t.url, "{since}", url.QueryEscape(probe.formatTime(since.UTC())))
		src, err := NewSource(cfg, t.c, t.opts)
		if err != nil {
			yield(connector.Tombstone{}, err)
			return
		}
		// The time is in the URL: the walk starts at the beginning (no updatedSince
		// parameter) and follows the endpoint's pages.
		var after cursor.Cursor
		for {
			page, err := src.ReadPage(ctx, after, t.limit)
			if err != nil {
				yield(connector.Tombstone{}, err)
				return
			}
			for _, r := range page.Records {
				if !yield(connector.Tombstone{ID: r.ID, DeletedAt: r.UpdatedAt}, nil) {
					return
				}
			}
			if !page.More {
				return
			}
			if src.sorted && len(page.Records) > 0 {
				after = page.Records[len(page.Records)-1].Cursor()
			}
		}
	}
}

var _ connector.TombstoneLister = (*Tombstones)(nil)
