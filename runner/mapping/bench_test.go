package mapping

import (
	"testing"
	"time"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// benchRecords are the records the benchmarks cycle through.
func benchRecords() []connector.Record {
	recs := make([]connector.Record, 64)
	for i := range recs {
		recs[i] = connector.Record{
			ID:        "inv_" + string(rune('a'+i%26)),
			UpdatedAt: time.Date(2026, 6, 30, 0, 0, i, 0, time.UTC),
			Fields: map[string]any{
				"id":         int64(i),
				"number":     "INV-0001",
				"total":      connector.Decimal("1234.50"),
				"status":     "paid",
				"issued_at":  time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC),
				"customer":   map[string]any{"id": int64(42), "email": "a@example.com"},
				"updated_at": time.Date(2026, 6, 30, 0, 0, i, 0, time.UTC),
			},
		}
	}
	return recs
}

// benchMap maps records with a typical six-field mapping under the given key.
func benchMap(b *testing.B, key Key) {
	m, err := New(Spec{SourceName: "billing", Key: key, Fields: []Field{
		{To: "number", From: "number", Required: true, Type: connector.TypeString},
		{To: "total", From: "total", Type: "decimal"},
		{To: "customer_id", From: "customer.id", Type: "int"},
		{To: "email", From: "customer.email", Type: connector.TypeString},
		{To: "issued_at", From: "issued_at", Type: "timestamp"},
		{To: "closed", Expr: `record.status == "paid"`, Type: "bool"},
	}})
	if err != nil {
		b.Fatal(err)
	}
	recs := benchRecords()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Map(recs[i%len(recs)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMap is a typical six-field mapping (five paths, one expression) with the
// default key.
func BenchmarkMap(b *testing.B) { benchMap(b, Key{Field: "ext_id"}) }

// BenchmarkMapCustomKey adds a key expression.
func BenchmarkMapCustomKey(b *testing.B) {
	benchMap(b, Key{Field: "ext_id", Expr: `"billing:" + string(record.id)`})
}

// BenchmarkMapSample is the mapping of config/samples' SyncJob (and make bench's): the key
// string(record.id), three paths and one expression, over a PostgreSQL source's record.
func BenchmarkMapSample(b *testing.B) {
	m, err := New(Spec{SourceName: "billing", Key: Key{Field: "billing_invoice_id", Expr: "string(record.id)"}, Fields: []Field{
		{To: "billing_customer_id", From: "customer_id", Type: connector.TypeString, Required: true},
		{To: "status", From: "status", Type: connector.TypeString, Required: true},
		{To: "total", From: "total", Type: "decimal", Required: true},
		{To: "is_paid", Expr: `record.status == "paid"`, Type: "bool"},
	}})
	if err != nil {
		b.Fatal(err)
	}
	rec := connector.Record{ID: "inv_0123456789abcdef", UpdatedAt: time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC), Fields: map[string]any{
		"id": "inv_0123456789abcdef", "customer_id": "cus_01234", "status": "paid", "total": connector.Decimal("1234.50"),
		"updated_at": time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC),
	}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Map(rec); err != nil {
			b.Fatal(err)
		}
	}
}
