package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"
)

// snapshotTarget: a Snapshot run over an unchanged source ≤ 1.5 × a COPY read of the
// source plus a COPY read of the stored hashes.
const snapshotTarget = 1.5

// snapshotSinkDDL creates the sink table of a Snapshot job: no source_updated_at (the
// source has no version), a text column for the content hashes.
const snapshotSinkDDL = `CREATE TABLE %[1]s (
  billing_invoice_id text PRIMARY KEY,
  customer_id text,
  status text,
  total numeric(12,2),
  _checkpointed_hash text)`

// snapshotJob is jobYAML in spec.cursor.mode Snapshot.
const snapshotJob = jobYAML + `  cursor:
    mode: Snapshot
`

// snapshot runs the Snapshot-mode scenarios on their own source table (snap_invoices, ids
// ascending, its updated_at unused) and sink (crm_snap):
//
//   - a first run loads every row;
//   - a run with nothing changed writes nothing: its time is compared with a COPY read of
//     the whole source in id order plus a COPY read of the stored hashes, on connections
//     opened for it as psql opens them (target ≤ 1.5×; the same reads on the bench's warm
//     connections are shown in the note);
//   - after an UPDATE of 1 % of the rows, a run writes exactly those rows.
func (b *bench) snapshot(ctx context.Context) error {
	n := int64(b.o.rows)
	if err := createSource(ctx, b.src, "snap_invoices", b.o.rows); err != nil {
		return err
	}
	if _, err := b.dst.Exec(ctx, fmt.Sprintf(snapshotSinkDDL, "crm_snap")); err != nil {
		return fmt.Errorf("create sink table crm_snap: %w", err)
	}
	jf := filepath.Join(b.dir, "bench-snap.yaml")
	if err := os.WriteFile(jf, []byte(fmt.Sprintf(snapshotJob, "bench-snap", "snap_invoices", "crm_snap", b.o.pageSize)), 0o600); err != nil {
		return fmt.Errorf("write job file: %w", err)
	}
	if err := b.checkpoint(ctx); err != nil {
		return err
	}
	res, err := b.runner.sync(ctx, "snapshot-load", jf, b.state("snap"))
	if err != nil {
		return err
	}
	if err := expect("snapshot, first load", res, n, n, 0); err != nil {
		return err
	}
	if err := b.verifySnapshot(ctx); err != nil {
		return fmt.Errorf("snapshot, first load: %w", err)
	}
	if err := vacuum(ctx, b.dst, "crm_snap"); err != nil {
		return err
	}
	b.add(row{scenario: "snapshot, first load", rows: n, wall: res.Wall, cpu: res.CPU, rss: res.MaxRSS, target: "(none)"}, res)

	var walls, bases, warms, cpus timings
	var rss int64
	var last runResult
	for i := 0; i < b.o.reps; i++ {
		if err := b.checkpoint(ctx); err != nil {
			return err
		}
		warm, err := timedWarm(b.src, b.dst, snapshotReads(ctx))
		if err != nil {
			return err
		}
		warms = append(warms, warm)
		if err := b.checkpoint(ctx); err != nil {
			return err
		}
		base, err := timedAsPsql(ctx, b.dial, snapshotReads(ctx))
		if err != nil {
			return err
		}
		if err := b.printStatements(ctx, "snapshot baseline"); err != nil {
			return err
		}
		if err := b.checkpoint(ctx); err != nil {
			return err
		}
		res, err := b.runner.sync(ctx, fmt.Sprintf("snapshot-unchanged-%d", i), jf, b.state("snap"))
		if err != nil {
			return err
		}
		if err := b.printStatements(ctx, "snapshot runner"); err != nil {
			return err
		}
		if err := expect("snapshot, nothing changed", res, n, 0, n); err != nil {
			return err
		}
		walls, bases, cpus = append(walls, res.Wall), append(bases, base), append(cpus, res.CPU)
		rss = max(rss, res.MaxRSS)
		last = res
	}
	r := row{scenario: "snapshot, unchanged", rows: n, wall: walls.median(), cpu: cpus.median(), rss: rss, base: bases.median(),
		target: fmt.Sprintf("≤ %.1f× COPY reads", snapshotTarget),
		note: "baseline: COPY of the source by id + COPY of the stored hashes, connecting as psql does; " + repsNote(walls, bases) +
			fmt.Sprintf("; on the bench's warm connections the baseline took %.3f s (ratio %.2f)", warms.median().Seconds(), pairedRatio(walls, warms))}
	r.ratio = pairedRatio(walls, bases)
	r.ok = ptr(r.ratio <= snapshotTarget)
	b.add(r, last)

	tag, err := b.src.Exec(ctx, `UPDATE snap_invoices SET total = total + 1 WHERE id % 100 = 0`)
	if err != nil {
		return fmt.Errorf("change 1%% of snap_invoices: %w", err)
	}
	changed := tag.RowsAffected()
	if err := vacuum(ctx, b.src, "snap_invoices"); err != nil {
		return err
	}
	if err := b.checkpoint(ctx); err != nil {
		return err
	}
	base, err := timedAsPsql(ctx, b.dial, snapshotReads(ctx))
	if err != nil {
		return err
	}
	if err := b.checkpoint(ctx); err != nil {
		return err
	}
	res, err = b.runner.sync(ctx, "snapshot-changed", jf, b.state("snap"))
	if err != nil {
		return err
	}
	if err := expect("snapshot, 1 % changed", res, n, changed, n-changed); err != nil {
		return err
	}
	if err := b.verifySnapshot(ctx); err != nil {
		return fmt.Errorf("snapshot, 1 %% changed: %w", err)
	}
	r = row{scenario: "snapshot, 1 % changed", rows: n, wall: res.Wall, cpu: res.CPU, rss: res.MaxRSS, base: base,
		ratio: res.Wall.Seconds() / base.Seconds(), target: fmt.Sprintf("writes %d", changed), ok: ptr(res.Record.Upserted == changed),
		note: fmt.Sprintf("wrote %d rows, %d unchanged", res.Record.Upserted, res.Record.Unchanged)}
	b.add(r, res)
	return nil
}

// snapshotReads reads what a Snapshot run must read, and nothing more: the whole source
// in id order (COPY ... TO STDOUT, discarded) and then the keys and stored hashes of the
// sink.
func snapshotReads(ctx context.Context) func(src, dst *pgx.Conn) error {
	return func(src, dst *pgx.Conn) error {
		if _, err := src.PgConn().CopyTo(ctx, io.Discard,
			`COPY (SELECT id, customer_id, status, total FROM snap_invoices ORDER BY id) TO STDOUT`); err != nil {
			return fmt.Errorf("snapshot baseline: copy out of snap_invoices: %w", err)
		}
		if _, err := dst.PgConn().CopyTo(ctx, io.Discard,
			`COPY (SELECT billing_invoice_id, _checkpointed_hash FROM crm_snap) TO STDOUT`); err != nil {
			return fmt.Errorf("snapshot baseline: copy out of crm_snap: %w", err)
		}
		return nil
	}
}

// verifySnapshot compares crm_snap with snap_invoices (no updated_at: the source has none
// in Snapshot mode) and checks that every row holds a hash.
func (b *bench) verifySnapshot(ctx context.Context) error {
	want, err := queryDigest(ctx, b.src, `SELECT count(*), coalesce(sum(hashtext(
  'billing:' || id::text || '|' || customer_id || '|' || status || '|' || total::text)), 0) FROM snap_invoices`)
	if err != nil {
		return err
	}
	got, err := queryDigest(ctx, b.dst, `SELECT count(*), coalesce(sum(hashtext(
  billing_invoice_id || '|' || customer_id || '|' || status || '|' || total::text)), 0) FROM crm_snap WHERE _checkpointed_hash IS NOT NULL`)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("sink crm_snap holds %s (rows with a hash), source snap_invoices has %s", got, want)
	}
	return nil
}
