package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/checkpointed/checkpointed/internal/runcontract"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/runstatus"
)

// resetWith runs the in-cluster reset for token to target.
func (c *inCluster) resetWith(g Gomega, token, to string) {
	var out bytes.Buffer
	code, err := ResetInCluster(context.Background(), logr.Discard(), c.runner,
		InCluster{Namespace: c.sj.Namespace, Name: c.sj.Name, Pod: "invoices-to-crm-r-0a1b2c3d-xyz", Trigger: "Reset"},
		ResetRequest{To: to, Token: token}, &out)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(code).To(Equal(runcontract.ExitOK), out.String())
}

// moveCursor changes the stored checkpoint's cursor as a run would, keeping the rest.
func (c *inCluster) moveCursor(g Gomega, updatedAt, id string) {
	st := c.checkpointJSON(g)
	st["cursor"] = map[string]any{"updatedAt": updatedAt, "id": id}
	data, err := json.Marshal(st)
	g.Expect(err).NotTo(HaveOccurred())
	c.seedCheckpoint(g, string(data))
}

// TestInClusterResetTokenIsAppliedOnce: a reset Job's Pod that runs again for the same
// request token (a retried Pod, a Job created twice) finds the token in the checkpoint and
// changes nothing — the run that synced after the first reset keeps its cursor — and emits
// no second CheckpointReset Event; a new token resets again.
func TestInClusterResetTokenIsAppliedOnce(t *testing.T) {
	g := NewWithT(t)
	c := setUpInCluster(t, newEnv(t, job{}), 100)
	c.seedCheckpoint(g, stored)

	c.resetWith(g, "tok-1", "beginning")
	g.Expect(c.checkpointJSON(g)).NotTo(HaveKey("cursor"))
	g.Expect(c.checkpointJSON(g)).To(HaveKeyWithValue("lastResetRequest", "tok-1"))

	c.moveCursor(g, "2026-07-01T00:00:00Z", "inv_9") // the run after the reset
	c.resetWith(g, "tok-1", "beginning")
	g.Expect(c.checkpointJSON(g)).To(HaveKeyWithValue("cursor", map[string]any{"updatedAt": "2026-07-01T00:00:00Z", "id": "inv_9"}),
		"the same token is not applied twice")
	g.Expect(c.events(g, ReasonCheckpointReset)).To(HaveLen(1))

	c.resetWith(g, "tok-2", "beginning")
	g.Expect(c.checkpointJSON(g)).NotTo(HaveKey("cursor"))
	g.Expect(c.checkpointJSON(g)).To(HaveKeyWithValue("lastResetRequest", "tok-2"))
	g.Expect(c.events(g, ReasonCheckpointReset)).To(HaveLen(2))
}

// TestInClusterResetPublishesTheCursor: after a reset status.cursor equals the stored
// checkpoint's cursor — removed for a reset to the beginning, the target time otherwise —
// while the last run and the history stay as they were.
func TestInClusterResetPublishesTheCursor(t *testing.T) {
	g := NewWithT(t)
	c := setUpInCluster(t, newEnv(t, job{}), 100)
	c.seedCheckpoint(g, stored)
	w := runstatus.NewWriter(c.runnerAPI(g), c.sj.Namespace, c.sj.Name, runstatus.Options{})
	now := metav1.Now()
	g.Expect(w.Publish(context.Background(), syncv1.RunRecord{RunID: "r1", Phase: syncv1.RunPhaseSucceeded, StartTime: &now, CompletionTime: &now, Read: 5, Upserted: 5},
		&syncv1.Cursor{UpdatedAt: "2026-06-30T23:55:00.123456Z", ID: "inv_10492"})).To(Succeed())

	c.resetWith(g, "tok-1", "beginning")
	sj := c.get(g)
	g.Expect(sj.Status.Cursor).To(BeNil(), "the status cursor is the checkpoint's: the beginning")
	g.Expect(sj.Status.LastRun).NotTo(BeNil())
	g.Expect(sj.Status.LastRun.RunID).To(Equal("r1"), "a reset is not a run")
	g.Expect(sj.Status.History).To(HaveLen(1))

	c.resetWith(g, "tok-2", "2026-06-01T00:00:00Z")
	g.Expect(c.get(g).Status.Cursor).To(Equal(&syncv1.Cursor{UpdatedAt: "2026-06-01T00:00:00Z"}))
	g.Expect(c.admin.Get(context.Background(), client.ObjectKeyFromObject(c.sj), sj)).To(Succeed())
}
