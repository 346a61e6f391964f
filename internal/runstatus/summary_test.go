package runstatus

import (
	"testing"

	. "github.com/onsi/gomega"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

func TestSummary(t *testing.T) {
	cur := &syncv1.Cursor{UpdatedAt: "2026-06-30T23:55:00.123456Z", ID: "inv_10492"}
	tests := []struct {
		name   string
		rec    syncv1.RunRecord
		cursor *syncv1.Cursor
		want   string
	}{
		{
			name:   "succeeded with failures",
			rec:    syncv1.RunRecord{Phase: syncv1.RunPhaseSucceeded, Read: 842, Upserted: 840, Failed: 2},
			cursor: cur,
			want:   "Succeeded: read 842, upserted 840, failed 2, cursor 2026-06-30T23:55:00.123456Z/inv_10492",
		},
		{
			name: "all counts, cursor from the record",
			rec: syncv1.RunRecord{Phase: syncv1.RunPhasePartiallySucceeded, Read: 10, Upserted: 4,
				Unchanged: 3, Skipped: 1, Failed: 2, Deleted: 5, CursorEnd: &syncv1.Cursor{UpdatedAt: "2026-01-01T00:00:00Z"}},
			want: "PartiallySucceeded: read 10, upserted 4, unchanged 3, skipped 1, failed 2, deleted 5, cursor 2026-01-01T00:00:00Z",
		},
		{
			name: "failure reason, never the message",
			rec: syncv1.RunRecord{Phase: syncv1.RunPhaseFailed, Reason: "SinkError",
				Message: "dial postgres://crm:hunter2@db:5432/crm: refused"},
			want: "Failed (SinkError): read 0, upserted 0, failed 0, cursor beginning",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(Summary(tc.rec, tc.cursor)).To(Equal(tc.want))
		})
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"connect postgres://crm:hunter2@db:5432/crm failed", "connect postgres://REDACTED@db:5432/crm failed"},
		{"host=db user=crm password=hunter2 dbname=crm", "host=db user=crm password=REDACTED dbname=crm"},
		{`config {"token": "abc123"}`, `config {"token": REDACTED}`},
		{"GET https://api.example.test/x?api_key=s3cr3t&page=2: 401", "GET https://api.example.test/x?api_key=REDACTED&page=2: 401"},
		{"sent Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", "sent Authorization: Bearer REDACTED"},
		{"read 842 records after 2026-06-30T23:55:00Z/inv_10492", "read 842 records after 2026-06-30T23:55:00Z/inv_10492"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			NewWithT(t).Expect(Redact(tc.in)).To(Equal(tc.want))
		})
	}
}
