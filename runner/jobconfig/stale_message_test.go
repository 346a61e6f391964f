package jobconfig

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/runner/checkpoint"
	"github.com/checkpointed/checkpointed/runner/engine"
)

// TestStaleSkipLogLineCarriesTheAPIsMessage: a write the HTTP sink refuses with a 409 the
// spec declares stale (staleWhen) is skipped, and its "record skipped" log line carries the
// API's own message, not only the id and the key.
func TestStaleSkipLogLineCarriesTheAPIsMessage(t *testing.T) {
	g := NewWithT(t)
	const apiMessage = "stale write refused: stored source_updated_at 2026-07-01T00:00:00Z is newer"
	billing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"data": [{"id": "1", "updated_at": "2026-06-30T12:00:01Z", "total": "1.00"},
			{"id": "2", "updated_at": "2026-06-30T12:00:02Z", "total": "2.00"}]}`)
	}))
	t.Cleanup(billing.Close)
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/http:2") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusConflict)
			fmt.Fprintf(w, `{"message": %q}`, apiMessage)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(crm.Close)

	sj := &syncv1.SyncJob{ObjectMeta: metav1.ObjectMeta{Name: "invoices"}, Spec: syncv1.SyncJobSpec{
		Source: syncv1.SourceSpec{HTTP: &syncv1.HTTPSource{URL: billing.URL + "/invoices"}},
		Sink: syncv1.SinkSpec{HTTP: &syncv1.HTTPSink{Mode: "Upsert", URL: crm.URL + "/invoices/{key}",
			StaleWhen: &syncv1.HTTPStaleWhen{Status: []int32{409}, BodyContains: "stale write refused"}}},
		Key:     syncv1.KeySpec{Field: "billing_invoice_id"},
		Mapping: []syncv1.FieldMapping{{To: "total", From: "total", Type: syncv1.FieldDecimal}},
	}}
	sj.Default()
	cfg, closeAll, err := Build(context.Background(), logr.Discard(), sj, "run-1", "Manual")
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(closeAll)
	dir := t.TempDir()
	cfg.Store = checkpoint.NewFileStore(dir, sj.Name)
	cfg.Lock = checkpoint.NewFileLock(dir)
	var out bytes.Buffer
	cfg.AuditOut = &out
	cfg.SaveTimeout = 5 * time.Second

	res, err := engine.Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Skipped).To(BeEquivalentTo(1))
	var skipped []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var l map[string]any
		g.Expect(json.Unmarshal([]byte(line), &l)).To(Succeed(), line)
		if l["msg"] == "record skipped" {
			skipped = append(skipped, l)
		}
	}
	g.Expect(skipped).To(HaveLen(1))
	g.Expect(skipped[0]).To(HaveKeyWithValue("id", "2"))
	g.Expect(skipped[0]).To(HaveKeyWithValue("key", "http:2"))
	g.Expect(skipped[0]).To(HaveKeyWithValue("detail", ContainSubstring(apiMessage)), "the skip names the API's message")
}
