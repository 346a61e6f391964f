package postgres

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestSourceColumns: the source names its table as the spec does and lists the columns
// every record carries, in table order, without dropped columns; a view's too.
func TestSourceColumns(t *testing.T) {
	dsn := newDB(t,
		`CREATE SCHEMA billing`,
		`CREATE TABLE billing.invoices (id bigint PRIMARY KEY, customer_id text, dropped text, total numeric, updated_at timestamptz NOT NULL)`,
		`ALTER TABLE billing.invoices DROP COLUMN dropped`,
		`CREATE VIEW billing.recent AS SELECT id, updated_at, total AS amount FROM billing.invoices`)
	for _, tc := range []struct {
		table string
		want  []string
	}{
		{"billing.invoices", []string{"id", "customer_id", "total", "updated_at"}},
		{"billing.recent", []string{"id", "updated_at", "amount"}},
	} {
		g := NewWithT(t)
		src, err := NewSource(context.Background(), SourceConfig{Table: tc.table, UpdatedAtColumn: "updated_at", IDColumn: "id"}, dsn, SourceOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		var s connector.Source = src
		c, ok := s.(connector.Columns)
		g.Expect(ok).To(BeTrue(), "the postgres source knows its columns")
		table, cols := c.Columns()
		g.Expect(table).To(Equal(tc.table))
		g.Expect(cols).To(Equal(tc.want))
		cols[0] = "changed"
		_, again := c.Columns()
		g.Expect(again[0]).To(Equal("id"), "the caller gets a copy")
		g.Expect(src.Close()).To(Succeed())
	}
}
