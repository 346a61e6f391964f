package checkpoint

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/checkpointed/checkpointed/internal/runcontract"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
)

func sampleState() runcontract.Checkpoint {
	return runcontract.Checkpoint{
		Cursor:    &cursor.Cursor{UpdatedAt: time.Date(2026, 6, 30, 23, 55, 0, 123456000, time.UTC), ID: "inv_10492"},
		SafetyGap: "5m",
		LastRun:   &runcontract.RunSummary{RunID: "run-1", Phase: "Succeeded", Processed: 842, Upserts: 842},
		Backfills: map[string]runcontract.Backfill{"b": {From: "2026-01-01T00:00:00Z", To: "2026-02-01T00:00:00Z"}},
	}
}

func TestFileStoreRoundTrip(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	s := NewFileStore(dir, "invoices")

	st, err := s.Load(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(st).To(Equal(runcontract.Checkpoint{}), "a missing file is a zero state")

	g.Expect(s.Save(ctx, sampleState())).To(Succeed())
	g.Expect(s.Save(ctx, sampleState())).To(Succeed(), "a store's own save does not conflict with itself")

	got, err := NewFileStore(dir, "invoices").Load(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	want := sampleState()
	want.Job = "invoices"
	g.Expect(got).To(Equal(want))

	data, err := os.ReadFile(filepath.Join(dir, FileName))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(data)).To(ContainSubstring(`"updatedAt": "2026-06-30T23:55:00.123456Z"`), "full precision, indented")

	entries, err := os.ReadDir(dir)
	g.Expect(err).NotTo(HaveOccurred())
	for _, e := range entries {
		g.Expect(e.Name()).NotTo(ContainSubstring(".tmp-"), "no temporary file left behind")
	}
}

func TestFileStoreConflict(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	dir := t.TempDir()
	a, b := NewFileStore(dir, "j"), NewFileStore(dir, "j")

	_, err := a.Load(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = b.Load(ctx)
	g.Expect(err).NotTo(HaveOccurred())

	g.Expect(a.Save(ctx, sampleState())).To(Succeed())
	err = b.Save(ctx, runcontract.Checkpoint{SafetyGap: "1m"})
	g.Expect(errors.Is(err, ErrConflict)).To(BeTrue(), "got %v", err)

	// After reloading, b sees a's state and may save.
	st, err := b.Load(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(st.LastRun.RunID).To(Equal("run-1"))
	st.SafetyGap = "10m"
	g.Expect(b.Save(ctx, st)).To(Succeed())
	// Now a is stale.
	g.Expect(errors.Is(a.Save(ctx, sampleState()), ErrConflict)).To(BeTrue())
}

func TestFileStoreErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		content string
		job     string
		op      func(*FileStore) error
		want    []string
	}{
		{
			name: "corrupt JSON names the file", content: `{"job": "j", "cursor": {`, job: "j",
			op:   func(s *FileStore) error { _, err := s.Load(ctx); return err },
			want: []string{FileName, "does not hold a valid checkpoint"},
		},
		{
			name: "an empty file is not a fresh start", content: " \n", job: "j",
			op:   func(s *FileStore) error { _, err := s.Load(ctx); return err },
			want: []string{FileName, "does not hold a valid checkpoint", "present but empty"},
		},
		{
			name: "null is not a checkpoint", content: "null", job: "j",
			op:   func(s *FileStore) error { _, err := s.Load(ctx); return err },
			want: []string{FileName, "does not hold a valid checkpoint", `no "job" field`},
		},
		{
			name: "{} is not a checkpoint", content: "{}", job: "j",
			op:   func(s *FileStore) error { _, err := s.Load(ctx); return err },
			want: []string{FileName, "does not hold a valid checkpoint", `no "job" field`},
		},
		{
			name: "another job's checkpoint", content: `{"job": "other"}`, job: "j",
			op:   func(s *FileStore) error { _, err := s.Load(ctx); return err },
			want: []string{FileName, `"other"`},
		},
		{
			name: "save before load", job: "j",
			op:   func(s *FileStore) error { return s.Save(ctx, runcontract.Checkpoint{}) },
			want: []string{"Load was never called"},
		},
		{
			name: "save of another job's state", job: "j",
			op: func(s *FileStore) error {
				if _, err := s.Load(ctx); err != nil {
					return err
				}
				return s.Save(ctx, runcontract.Checkpoint{Job: "other"})
			},
			want: []string{`"other"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			dir := t.TempDir()
			if tc.content != "" {
				g.Expect(os.WriteFile(filepath.Join(dir, FileName), []byte(tc.content), 0o600)).To(Succeed())
			}
			err := tc.op(NewFileStore(dir, tc.job))
			g.Expect(err).To(HaveOccurred())
			for _, w := range tc.want {
				g.Expect(err.Error()).To(ContainSubstring(w))
			}
			if tc.content != "" {
				data, _ := os.ReadFile(filepath.Join(dir, FileName))
				g.Expect(string(data)).To(Equal(tc.content), "a bad file is never reset")
			}
		})
	}
}
