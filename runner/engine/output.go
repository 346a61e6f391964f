package engine

import (
	"context"
	"fmt"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/checkpoint"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// output is where a run's effects go: the sink, the checkpoint store and the publisher of a
// real run (sinkOutput, below), or the plan of a dry run (dryrun.go). It is chosen once per
// run from Config.DryRun.
type output interface {
	// retries reports whether the records that failed in earlier runs are retried first.
	retries() bool
	// upsert writes batch and returns one result per record, in order; a nil error means
	// every non-Failed result is durable. It returns no results when nothing was written.
	upsert(ctx context.Context, batch []connector.WriteRecord) ([]connector.Result, error)
	// save stores st (and log, when not nil and the store keeps one) and reports whether
	// it did: false with a nil error means this output stores nothing.
	save(ctx context.Context, st runcontract.Checkpoint, log *runcontract.RecordLog) (stored bool, err error)
	// flush makes the writes confirmed so far durable (connector.Flusher); nil when they
	// are. save flushes before it stores.
	flush(ctx context.Context) error
	// counter is the sink's side of the drift check; nil leaves them out.
	counter() connector.Counter
	// keyReader reads sampled records back for the drift check; nil leaves the sample out.
	keyReader() connector.KeyReader
	// publish hands the finished run's record and the stored cursor on, best effort.
	publish(ctx context.Context, rec audit.Record, stored *cursor.Cursor) error
	// result is the dry run's plan; nil for a real run.
	result() *Plan
}

// newOutput chooses the output of a run.
func newOutput(cfg Config) output {
	if cfg.DryRun {
		return &planOutput{plan: &Plan{}, limit: cfg.PreviewLimit}
	}
	out := sinkOutput{sink: cfg.Sink, store: cfg.Store, pub: cfg.Publisher}
	if hr, ok := cfg.Sink.(connector.HashReader); ok && cfg.Snapshot {
		return hashOutput{output: out, hashes: hr}
	}
	return out
}

// sinkOutput is a real run's output: records go to the sink, the checkpoint to the store,
// the record to the publisher (if any).
type sinkOutput struct {
	sink  connector.Sink
	store checkpoint.Store
	pub   audit.Publisher
}

func (sinkOutput) retries() bool { return true }

// upsert writes the batch and checks the sink kept its side of the contract.
func (o sinkOutput) upsert(ctx context.Context, batch []connector.WriteRecord) ([]connector.Result, error) {
	results, err := o.sink.Upsert(ctx, batch)
	if err != nil {
		return nil, err
	}
	if len(results) != len(batch) {
		return nil, fmt.Errorf("sink returned %d results for %d records", len(results), len(batch))
	}
	return results, nil
}

// flush asks a sink that confirms writes before they are durable to make them durable.
func (o sinkOutput) flush(ctx context.Context) error {
	if f, ok := o.sink.(connector.Flusher); ok {
		if err := f.Flush(ctx); err != nil {
			return fmt.Errorf("make the sink's confirmed writes durable: %w", err)
		}
	}
	return nil
}

// save stores the checkpoint once the writes it counts are durable (flush).
func (o sinkOutput) save(ctx context.Context, st runcontract.Checkpoint, log *runcontract.RecordLog) (bool, error) {
	if err := o.flush(ctx); err != nil {
		return false, err
	}
	if ls, ok := o.store.(checkpoint.RecordLogStore); ok && log != nil {
		if err := ls.SaveWithRecordLog(ctx, st, *log); err != nil {
			return false, err
		}
		return true, nil
	}
	if err := o.store.Save(ctx, st); err != nil {
		return false, err
	}
	return true, nil
}

func (o sinkOutput) counter() connector.Counter {
	c, _ := o.sink.(connector.Counter)
	if cc, ok := o.sink.(connector.CountCapable); ok && !cc.CanCount() {
		return nil
	}
	return c
}

func (o sinkOutput) keyReader() connector.KeyReader {
	k, _ := o.sink.(connector.KeyReader)
	if kc, ok := o.sink.(connector.KeyReadCapable); ok && !kc.CanReadByKey() {
		return nil
	}
	return k
}

func (o sinkOutput) publish(ctx context.Context, rec audit.Record, stored *cursor.Cursor) error {
	if o.pub == nil {
		return nil
	}
	return o.pub.Publish(ctx, rec, stored)
}

func (sinkOutput) result() *Plan { return nil }

// upsertExcept writes to out the records of batch for which held reports no result, and
// returns every record's result in batch order: held's result for the records it holds
// (nothing written for them), the sink's for the others. The Snapshot hash check and the
// overlap's version check are both this: a page filtered by one keyed lookup.
func upsertExcept(ctx context.Context, out output, batch []connector.WriteRecord, held func(*connector.WriteRecord) (connector.Result, bool)) ([]connector.Result, error) {
	results := make([]connector.Result, len(batch))
	changed := make([]connector.WriteRecord, 0, len(batch))
	at := make([]int, 0, len(batch))
	for i := range batch {
		if res, ok := held(&batch[i]); ok {
			results[i] = res
			continue
		}
		changed = append(changed, batch[i])
		at = append(at, i)
	}
	if len(changed) == 0 {
		return results, nil
	}
	written, err := out.upsert(ctx, changed)
	if err != nil {
		return nil, err
	}
	for j, res := range written {
		results[at[j]] = res
	}
	return results, nil
}
