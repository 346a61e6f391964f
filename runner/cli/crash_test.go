package cli

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/test/synctest"
)

// The product's central promise: whatever moment a run dies at, reruns converge to a sink
// that equals the mapped source — nothing missing, nothing duplicated — and the stored
// cursor never passes a write that was not confirmed.

const crashRows = 100_000

// crashJob spreads 100k invoices over groups of 7 sharing one updated_at (so ties cross
// page boundaries), one second apart, and stores the checkpoint at most every 300 ms, so
// that kills land both before and after checkpoint writes.
func crashEnv(t *testing.T) *env {
	e := newEnv(t, job{PageSize: 500, Extra: "  cursor: {safetyGap: 2m}\n"})
	data, err := os.ReadFile(e.jobFile)
	if err != nil {
		t.Fatal(err)
	}
	e.writeJobText(strings.Replace(string(data), "checkpoint: {interval: 0s}", "checkpoint: {interval: 300ms}", 1))
	synctest.Exec(t, e.src, fmt.Sprintf(`INSERT INTO invoices
		SELECT i, 'cus_' || (i %% 97), (ARRAY['open','paid','void'])[1 + i %% 3],
		       ((i * 7919) %% 100000)::text || '.' || lpad((i %% 100)::text, 2, '0'),
		       timestamptz '2026-06-01 00:00:00.123456+00' + (i / 7) * interval '1 second'
		FROM generate_series(1, %d) AS i`, crashRows))
	return e
}

func (e *env) writeJobText(text string) {
	if err := os.WriteFile(e.jobFile, []byte(text), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// TestCrashSafetyUnderSIGKILL kills the runner binary with SIGKILL at random moments (at
// least 50 kills, the source changing in between), then reruns until a run succeeds and
// compares the sink with the mapped source.
func TestCrashSafetyUnderSIGKILL(t *testing.T) {
	g := NewWithT(t)
	e := crashEnv(t)
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))

	kills, completed, betweenWriteAndCheckpoint := 0, 0, 0
	for attempt := 0; kills < 50 && attempt < 400; attempt++ {
		cmd := exec.Command(runnerBin, "sync", "-f", e.jobFile, "--state-dir", e.state)
		cmd.Env = append(os.Environ(), "BILLING_DB_DSN="+e.src, "CRM_DB_DSN="+e.sink)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		g.Expect(cmd.Start()).To(Succeed())
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			g.Expect(err).NotTo(HaveOccurred(), "an unkilled run failed: %s", stderr.String())
			completed++
		case <-time.After(time.Duration(5+rng.IntN(700)) * time.Millisecond):
			g.Expect(cmd.Process.Signal(syscall.SIGKILL)).To(Succeed())
			<-done
			kills++
		}
		// The invariant at every stop: everything up to the stored cursor is in the sink
		// as the source had it when the run read it (the source only moves forward).
		if ahead := checkStoredCursorIsConfirmed(t, e); ahead {
			betweenWriteAndCheckpoint++
		}
		// The source keeps changing between runs: updates, late inserts inside the gap,
		// and 3,000 changed invoices so that every run has real writes to be killed in.
		mutateSource(t, e.src, rng)
		changeMany(t, e.src, rng)
	}
	t.Logf("%d kills (%d landed after confirmed writes the checkpoint did not cover yet), %d runs completed before their kill",
		kills, betweenWriteAndCheckpoint, completed)
	g.Expect(kills).To(BeNumerically(">=", 50))
	g.Expect(betweenWriteAndCheckpoint).To(BeNumerically(">=", 5),
		"too few kills landed between a confirmed upsert and the checkpoint write to prove anything")

	converge(t, e)
}

// TestCrashSafetyWhenTheSinkFailsMidBatch terminates the sink's database sessions at random
// moments while runs are in flight (the connection dies mid-batch), then reruns until a
// run succeeds and compares the sink with the mapped source.
func TestCrashSafetyWhenTheSinkFailsMidBatch(t *testing.T) {
	g := NewWithT(t)
	e := crashEnv(t)
	rng := rand.New(rand.NewPCG(2, uint64(time.Now().UnixNano())))
	sinkDB := e.sink[strings.LastIndex(e.sink, "/")+1:]
	if i := strings.Index(sinkDB, "?"); i >= 0 {
		sinkDB = sinkDB[:i]
	}

	failures := 0
	for attempt := 0; failures < 15 && attempt < 100; attempt++ {
		cmd := exec.Command(runnerBin, "sync", "-f", e.jobFile, "--state-dir", e.state)
		cmd.Env = append(os.Environ(), "BILLING_DB_DSN="+e.src, "CRM_DB_DSN="+e.sink)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		g.Expect(cmd.Start()).To(Succeed())
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// After a random delay, terminate the runner's sink session while it is writing a
		// batch (watched from a session on the source database).
		time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
		err := terminateWhileWriting(t, e.src, sinkDB, done)
		if err != nil {
			g.Expect(stdout.String()).To(ContainSubstring(`"phase": "Failed"`), stderr.String())
			g.Expect(stdout.String()).To(ContainSubstring(`"reason": "SinkError"`))
			failures++
		}
		checkStoredCursorIsConfirmed(t, e)
		mutateSource(t, e.src, rng)
		changeMany(t, e.src, rng)
	}
	t.Logf("%d runs failed mid-batch", failures)
	g.Expect(failures).To(BeNumerically(">=", 15))
	converge(t, e)
}

// converge reruns until a run succeeds (bounded), then asserts that the sink equals the
// mapped source exactly and the stored cursor is the source's max.
func converge(t *testing.T, e *env) {
	g := NewWithT(t)
	var r result
	for i := 0; i < 5; i++ {
		if r = e.sync(); r.code == 0 {
			break
		}
	}
	g.Expect(r.code).To(Equal(0), r.stderr)

	srcCount, srcSum := synctest.Fingerprint(t, e.src, synctest.SourceFingerprint)
	sinkCount, sinkSum := synctest.Fingerprint(t, e.sink, synctest.SinkFingerprint)
	g.Expect(srcCount).To(BeNumerically(">=", crashRows))
	g.Expect(sinkCount).To(Equal(srcCount), "rows missing or extra in the sink")
	g.Expect(sinkSum).To(Equal(srcSum), "the sink differs from the mapped source")

	maxCursor := synctest.String(t, e.src, `SELECT to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '/' || id FROM invoices ORDER BY updated_at DESC, id DESC LIMIT 1`)
	g.Expect(e.cursorOf()).To(Equal(maxCursor))
}

// checkStoredCursorIsConfirmed asserts that every source row at or before the stored
// cursor (except those committed late, after the cursor was stored) is in the sink with a
// source version at least as new as the one the source has now (rows only move forward
// past the cursor), and reports whether the sink holds a version newer than the cursor:
// the run confirmed writes that its last checkpoint write did not cover yet.
func checkStoredCursorIsConfirmed(t *testing.T, e *env) (sinkAhead bool) {
	t.Helper()
	st := e.checkpoint()
	c, ok := st["cursor"].(map[string]any)
	sinkIDs := sinkVersions(t, e.sink)
	if !ok {
		return len(sinkIDs) > 0 // nothing stored yet, but writes were confirmed
	}
	at, err := time.Parse(time.RFC3339Nano, c["updatedAt"].(string))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := strconv.ParseInt(c["id"].(string), 10, 64)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.src)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT id, updated_at FROM invoices WHERE (updated_at, id) <= ($1, $2)`, at, id)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var rid int64
		var ts time.Time
		if err := rows.Scan(&rid, &ts); err != nil {
			t.Fatal(err)
		}
		if rid > crashRows {
			// Committed late, behind a cursor already stored: the safety gap brings it in
			// on a later run (checked by converge), not this one.
			continue
		}
		v, ok := sinkIDs[rid]
		if !ok {
			t.Fatalf("stored cursor %v/%d passed invoice %d, which is not in the sink", at, id, rid)
		}
		if v.Before(ts) {
			t.Fatalf("stored cursor %v/%d passed invoice %d at %v, but the sink holds its older version %v", at, id, rid, ts, v)
		}
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	for _, v := range sinkIDs {
		if v.After(at) {
			return true
		}
	}
	return false
}

// sinkVersions maps each invoice id in the sink to its stored source version.
func sinkVersions(t *testing.T, dsn string) map[int64]time.Time {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT substr(billing_invoice_id, 9)::bigint, source_updated_at FROM crm_invoices`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]time.Time{}
	for rows.Next() {
		var id int64
		var ts time.Time
		if err := rows.Scan(&id, &ts); err != nil {
			t.Fatal(err)
		}
		out[id] = ts
	}
	return out
}

// mutateSource changes the source between runs the way a live system does: a few
// invoices change (their updated_at moves past everything), one is committed late with
// an updated_at inside the safety gap behind the newest row.
func mutateSource(t *testing.T, dsn string, rng *rand.Rand) {
	ids := []string{}
	for range 5 {
		ids = append(ids, strconv.Itoa(1+rng.IntN(crashRows)))
	}
	next := synctest.Int(t, dsn, `SELECT max(id) + 1 FROM invoices`)
	synctest.Exec(t, dsn,
		fmt.Sprintf(`UPDATE invoices SET status = 'paid', total = (total::numeric + 1)::text,
			updated_at = (SELECT max(updated_at) FROM invoices) + interval '1.5 seconds' WHERE id IN (%s)`, strings.Join(ids, ",")),
		fmt.Sprintf(`INSERT INTO invoices VALUES (%d, 'cus_late', 'open', '5.00', (SELECT max(updated_at) FROM invoices) - interval '30 seconds')`, next),
	)
}

// changeMany changes about 3,000 invoices, moving them past every other row.
func changeMany(t *testing.T, dsn string, rng *rand.Rand) {
	synctest.Exec(t, dsn, fmt.Sprintf(`UPDATE invoices SET total = (total::numeric + 1)::text,
		updated_at = (SELECT max(updated_at) FROM invoices) + interval '1 second'
		WHERE id %% 33 = %d`, rng.IntN(33)))
}

// terminateWhileWriting polls for a session of database db that is running a write
// (INSERT, COPY, a merge) and terminates it, until the run ends; it returns the run's
// outcome.
func terminateWhileWriting(t *testing.T, viaDSN, db string, done <-chan error) error {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, viaDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for {
		select {
		case err := <-done:
			return err
		default:
		}
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = $1 AND pid <> pg_backend_pid() AND state = 'active'
			  AND (query ILIKE '%insert%' OR query ILIKE '%copy%')`, db).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return <-done
		}
		time.Sleep(2 * time.Millisecond)
	}
}
