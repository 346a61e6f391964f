package engine

import (
	"context"
	"testing"
)

// BenchmarkRun measures the engine loop alone (in-memory source, sink and store): one run
// over 10,000 records in pages of 500, checkpoint after every page.
func BenchmarkRun(b *testing.B) {
	recs := genRecords(10_000, 3)
	b.ReportAllocs()
	for b.Loop() {
		e := newEnv(recs)
		cfg := e.config()
		cfg.PageSize = 500
		cfg.Publisher = nil
		if _, err := Run(context.Background(), cfg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
}
