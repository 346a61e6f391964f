package engine

import (
	"context"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// Plan is what a dry run would have done.
type Plan struct {
	// Writes is the number of records that would have been upserted.
	Writes int64
	// Records are the first mapped records (at most Config.PreviewLimit).
	Records []connector.WriteRecord
}

// planOutput is the output of a dry run (plan mode): it reads and maps like a real run but
// writes nothing, stores nothing, retries no failed records, checks no drift and publishes
// nothing. It counts the records that would have been upserted and keeps the first limit
// of them.
type planOutput struct {
	plan  *Plan
	limit int
}

func (*planOutput) retries() bool { return false }

// upsert adds the batch to the plan and confirms nothing.
func (p *planOutput) upsert(_ context.Context, batch []connector.WriteRecord) ([]connector.Result, error) {
	p.plan.Writes += int64(len(batch))
	for _, w := range batch {
		if len(p.plan.Records) >= p.limit {
			break
		}
		p.plan.Records = append(p.plan.Records, w)
	}
	return nil, nil
}

func (*planOutput) save(context.Context, runcontract.Checkpoint, *runcontract.RecordLog) (bool, error) {
	return false, nil
}

func (*planOutput) flush(context.Context) error { return nil }

func (*planOutput) counter() connector.Counter { return nil }

func (*planOutput) keyReader() connector.KeyReader { return nil }

func (*planOutput) publish(context.Context, audit.Record, *cursor.Cursor) error { return nil }

func (p *planOutput) result() *Plan { return p.plan }
