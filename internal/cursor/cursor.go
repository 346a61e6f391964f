// Package cursor holds the position a sync has reached in its source: a time and a
// tie-breaking id, ordered ascending by (UpdatedAt, ID).
package cursor

import (
	"fmt"
	"time"
)

// Cursor is a position in the source's ascending (UpdatedAt, ID) order. "Strictly after
// a cursor" means a larger UpdatedAt, or the same UpdatedAt and a larger ID in the
// source's native id order. The empty ID sorts before every id, so (t, "") means
// "every record with UpdatedAt >= t".
//
// UpdatedAt is always UTC at the source's full precision; it is never rounded.
type Cursor struct {
	// UpdatedAt in UTC.
	UpdatedAt time.Time `json:"updatedAt"`
	// ID in its string form; the source knows its native order.
	ID string `json:"id,omitempty"`
}

// Beginning is the cursor before every record.
var Beginning = Cursor{}

// IsZero reports whether c is the beginning.
func (c Cursor) IsZero() bool { return c.UpdatedAt.IsZero() && c.ID == "" }

// Rewind returns the cursor gap earlier with an empty ID: the start of a run, so that
// late-committed records within the gap are read again. The beginning stays the beginning.
func (c Cursor) Rewind(gap time.Duration) Cursor {
	if c.UpdatedAt.IsZero() {
		return Beginning
	}
	return Cursor{UpdatedAt: c.UpdatedAt.Add(-gap).UTC()}
}

// String renders the cursor as "RFC3339Nano/id" for logs and errors.
func (c Cursor) String() string {
	if c.IsZero() {
		return "beginning"
	}
	return fmt.Sprintf("%s/%s", c.UpdatedAt.UTC().Format(time.RFC3339Nano), c.ID)
}

// Format renders UpdatedAt as RFC3339 with the fraction the value has.
func (c Cursor) Format() string {
	if c.UpdatedAt.IsZero() {
		return ""
	}
	return c.UpdatedAt.UTC().Format(time.RFC3339Nano)
}

// Parse reads a cursor from its stored form.
func Parse(updatedAt, id string) (Cursor, error) {
	if updatedAt == "" {
		return Cursor{ID: id}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, updatedAt)
	if err != nil {
		return Cursor{}, fmt.Errorf("cursor time %q is not RFC3339: %w", updatedAt, err)
	}
	return Cursor{UpdatedAt: t.UTC(), ID: id}, nil
}

// IDOrder compares two ids in a source's native order: negative when a < b, zero when
// equal, positive when a > b. The empty id is before every other id.
type IDOrder func(a, b string) int

// Compare orders two cursors by (UpdatedAt, ID) with the given id order.
func Compare(a, b Cursor, ids IDOrder) int {
	if c := a.UpdatedAt.Compare(b.UpdatedAt); c != 0 {
		return c
	}
	switch {
	case a.ID == b.ID:
		return 0
	case a.ID == "":
		return -1
	case b.ID == "":
		return 1
	}
	return ids(a.ID, b.ID)
}
