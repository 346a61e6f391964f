package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// TestSeedFailedKeysRetriedInBatches: with spec.source.http.getByIdsUrl the next run
// fetches the failed records through the billing API's batch read, getByIdsMax ids per
// request (10 failed keys, 4 per request: 3 requests, none per id), writes them, and an
// invoice purged in between (absent from the batch answer) leaves the failed keys as a
// 404 of getByIdUrl does: not written, not failed again.
func TestSeedFailedKeysRetriedInBatches(t *testing.T) {
	g := NewWithT(t)
	var batchReads, idReads atomic.Int32
	s := newSeed(t, seedOpts{invoices: 400, extra: "  reconcile: {sample: 0}\n", // the drift sample fetches by id too
		sourceHTTP: "      getByIdsUrl: BILLING/invoices/batch?ids={ids}\n      getByIdsMax: 4\n",
		wrapBilling: func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.URL.Path == "/invoices/batch":
					batchReads.Add(1)
					if n := len(strings.Split(r.URL.Query().Get("ids"), ",")); n > 4 {
						t.Errorf("a batch read of %d ids, more than getByIdsMax 4", n)
					}
				case strings.HasPrefix(r.URL.Path, "/invoices/") && r.URL.Path != "/invoices/deleted" && r.URL.Path != "/invoices/ids":
					idReads.Add(1)
				}
				h.ServeHTTP(w, r)
			})
		}})
	// The job file names the billing URL only once the server runs.
	raw, err := os.ReadFile(s.jobFile)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(os.WriteFile(s.jobFile, []byte(strings.ReplaceAll(string(raw), "BILLING/", s.bURL+"/")), 0o600)).To(Succeed())

	sorted := sortedInvoices(s.billing)
	var bad []string
	for i := range 10 {
		bad = append(bad, sorted[15+37*i].ID)
		s.crm.Reject(bad[i], "total must be approved by finance")
	}
	r := s.sync()
	g.Expect(r.code).To(Equal(3), r.stderr)
	g.Expect(r.record(t).Failed).To(Equal(int64(10)))
	g.Expect(failedKeys(t, s)).To(ConsistOf(bad))

	s.crm.ClearRejections()
	g.Expect(s.billing.Purge(bad[4], time.Time{})).To(Succeed())
	batchReads.Store(0)
	idReads.Store(0)
	r = s.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	rec := r.record(t)
	g.Expect(rec.Phase).To(Equal(syncv1.RunPhaseSucceeded))
	g.Expect(rec.Upserted).To(Equal(int64(9)), "the failed keys still in the API are fetched and written")
	g.Expect(batchReads.Load()).To(Equal(int32(3)), "ceil(10/4) batch reads")
	g.Expect(idReads.Load()).To(BeZero(), "no read per id")
	g.Expect(failedKeys(t, s)).To(BeEmpty(), "the purged invoice left the failed keys like a 404")
	g.Expect(s.crm.Find(bad[4])).To(BeEmpty())
	s.expectCRMEqualsBilling()
}

// failedKeys reads the failed keys of the local checkpoint.
func failedKeys(t *testing.T, s *seed) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(s.state, "checkpoint.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		FailedKeys []string `json:"failedKeys"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(fmt.Errorf("checkpoint.json: %w", err))
	}
	return st.FailedKeys
}
