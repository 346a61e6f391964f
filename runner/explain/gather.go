package explain

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// State reads a SyncJob's stored state: the checkpoint and the record log. The file store
// of local mode and the ConfigMap store of a cluster (runner/checkpoint) both implement it.
type State interface {
	Load(ctx context.Context) (runcontract.Checkpoint, error)
	LoadRecordLog(ctx context.Context) (runcontract.RecordLog, error)
}

// Mapper maps a source record as a run would.
type Mapper interface {
	Map(connector.Record) (connector.WriteRecord, error)
}

// KeyForID is an optional Mapper capability (runner/mapping): the key of a record from
// its id alone, to look up in the sink a record the source no longer has.
type KeyForID interface {
	KeyForID(id string) (string, bool)
}

// Inputs are what Gather reads from. Source, Mapper and State are required; Sink may be
// nil or lack connector.KeyReader (the sink's side is then "not asked").
type Inputs struct {
	Job, Namespace string
	Source         connector.Source
	Sink           connector.Sink
	Mapper         Mapper
	State          State
	// SafetyGap of the spec, used when the checkpoint does not name the one in force.
	SafetyGap   time.Duration
	Schedule    string
	NextRun     time.Time
	DeletesMode string
	Local       *Local
	Now         time.Time
}

// Gather collects the evidence about source id id. Only a failure to read the checkpoint
// is an error; a side that cannot be asked is reported in the evidence.
func Gather(ctx context.Context, in Inputs, id string) (Evidence, error) {
	ev := Evidence{Job: in.Job, Namespace: in.Namespace, ID: id, Now: in.Now, Schedule: in.Schedule,
		NextRun: in.NextRun, DeletesMode: in.DeletesMode, Local: in.Local}
	cp, err := in.State.Load(ctx)
	if err != nil {
		return ev, fmt.Errorf("explain %s: %w", id, err)
	}
	log, err := in.State.LoadRecordLog(ctx)
	if err != nil {
		ev.Log.Err = err.Error()
	}
	ids := cursor.IDOrder(in.Source.CompareIDs)

	gatherSource(ctx, in, id, &ev.Source)
	gatherLog(log, id, &ev.Log)
	gatherCheckpoint(cp, log, in.SafetyGap, ids, &ev)

	key := ev.Source.Key
	if key == "" {
		for _, e := range []*runcontract.RecordEvent{ev.Log.Failure, ev.Log.Stale, ev.Log.Deleted} {
			if e != nil && e.Key != "" {
				key = e.Key
				break
			}
		}
	}
	if kf, ok := in.Mapper.(KeyForID); ok && key == "" {
		key, _ = kf.KeyForID(id)
	}
	gatherSink(ctx, in.Sink, key, &ev)
	return ev, nil
}

func gatherSource(ctx context.Context, in Inputs, id string, s *SourceEvidence) {
	f, ok := in.Source.(connector.Fetcher)
	if fc, isFC := in.Source.(connector.FetchCapable); ok && isFC && !fc.CanFetchByID() {
		ok = false
	}
	if !ok {
		s.Err = "the source cannot fetch records by id"
		return
	}
	recs, err := f.FetchByIDs(ctx, []string{id})
	if err != nil {
		s.Err = err.Error()
		return
	}
	s.Checked = true
	var rec *connector.Record
	for i := range recs {
		if recs[i].ID == id {
			rec = &recs[i]
		}
	}
	if rec == nil {
		return
	}
	s.Found, s.UpdatedAt = true, rec.UpdatedAt.UTC()
	if rc, ok := in.Source.(connector.RecordChecker); ok {
		if err := rc.RecordError(*rec); err != nil {
			s.MapError = recordError(err)
			return
		}
	}
	w, err := in.Mapper.Map(*rec)
	if err != nil {
		s.MapError = recordError(err)
		s.Key = w.Key
		return
	}
	s.Key, s.Deleted, s.Values = w.Key, w.Deleted, w.Values
}

func recordError(err error) *RecordError {
	var re *connector.RecordError
	if errors.As(err, &re) {
		return &RecordError{Field: re.Field, Reason: re.Reason, Detail: re.Detail}
	}
	return &RecordError{Reason: err.Error()}
}

func gatherLog(log runcontract.RecordLog, id string, l *LogEvidence) {
	l.Dropped = log.Dropped
	for i := range log.Entries {
		e := &log.Entries[i]
		if e.ID != id {
			continue
		}
		switch e.Kind {
		case runcontract.RecordFailed:
			l.Failure = e
		case runcontract.RecordStale:
			l.Stale = e
		case runcontract.RecordDeleted:
			l.Deleted = e
		}
	}
}

func gatherCheckpoint(cp runcontract.Checkpoint, log runcontract.RecordLog, specGap time.Duration, ids cursor.IDOrder, ev *Evidence) {
	c := &ev.Checkpoint
	c.SafetyGap = specGap
	if d, err := time.ParseDuration(cp.SafetyGap); err == nil && cp.SafetyGap != "" {
		c.SafetyGap = d
	}
	for _, k := range cp.FailedKeys {
		if k == ev.ID {
			c.FailedKey = true
		}
	}
	if cp.Cursor != nil && !cp.Cursor.IsZero() {
		cur := *cp.Cursor
		c.Cursor = &cur
	}
	at := ev.Source.UpdatedAt
	if !ev.Source.Found && ev.Log.Failure != nil && ev.Log.Failure.SourceUpdatedAt != nil {
		at = *ev.Log.Failure.SourceUpdatedAt
	}
	if at.IsZero() {
		return
	}
	pos := cursor.Cursor{UpdatedAt: at, ID: ev.ID}
	if c.Cursor != nil {
		c.Passed = cursor.Compare(pos, *c.Cursor, ids) <= 0
		c.Rewound = cursor.Compare(pos, c.Cursor.Rewind(c.SafetyGap), ids) <= 0
		c.Lead = c.Cursor.UpdatedAt.Sub(at)
	}
	for i := len(log.Runs) - 1; i >= 0; i-- {
		if log.Runs[i].Covers(pos, ids) {
			r := log.Runs[i]
			c.CoveredBy = &r
			break
		}
	}
}

func gatherSink(ctx context.Context, sink connector.Sink, key string, ev *Evidence) {
	s := &ev.Sink
	s.Key = key
	kr, ok := sink.(connector.KeyReader)
	if !ok {
		s.Err = "the sink cannot read records by key"
		return
	}
	if key == "" {
		s.Err = "no key to read"
		return
	}
	recs, err := kr.ReadByKeys(ctx, []string{key})
	if err != nil {
		s.Err = err.Error()
		return
	}
	s.Checked = true
	for _, r := range recs {
		if r.Key != key {
			continue
		}
		s.Found, s.SourceUpdatedAt = true, r.SourceUpdatedAt.UTC()
		if ev.Source.Values != nil {
			s.Diffs = Diff(ev.Source.Values, r.Values)
		}
	}
}
