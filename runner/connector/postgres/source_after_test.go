package postgres

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
)

// TestHasAfter: whether a row follows a position, by ReadPage's rules: strictly after a
// position with an id, at or after the time of one without.
func TestHasAfter(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	dsn := newDB(t,
		`CREATE TABLE src (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL)`,
		`INSERT INTO src VALUES (1, '2024-05-01 10:00:00+00'), (2, '2024-05-01 10:00:00+00'), (3, '2024-05-01 11:00:00.000001+00')`)
	src, err := NewSource(ctx, SourceConfig{Table: "src", UpdatedAtColumn: "updated_at", IDColumn: "id"}, dsn, SourceOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	defer src.Close()
	ten := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	last := time.Date(2024, 5, 1, 11, 0, 0, 1000, time.UTC)
	for _, tc := range []struct {
		after cursor.Cursor
		want  bool
	}{
		{cursor.Cursor{UpdatedAt: ten, ID: "1"}, true},
		{cursor.Cursor{UpdatedAt: ten, ID: "2"}, true},
		{cursor.Cursor{UpdatedAt: last, ID: "3"}, false},
		{cursor.Cursor{UpdatedAt: last}, true},
		{cursor.Cursor{UpdatedAt: last.Add(time.Microsecond)}, false},
	} {
		got, err := src.HasAfter(ctx, tc.after)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(got).To(Equal(tc.want), "after %s", tc.after)
	}
}
