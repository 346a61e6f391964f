// Package jobconfig is the one place where a defaulted SyncJob becomes a run: the
// connectors' own configurations, the mapping and the engine's configuration. Connectors and
// the engine never see the API types; defaults are not applied here (the CRD schema and
// SyncJob.Default did that), only translated.
package jobconfig

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/connector/httpapi"
	"github.com/checkpointed/checkpointed/runner/connector/httpapi/transport"
	"github.com/checkpointed/checkpointed/runner/engine"
	"github.com/checkpointed/checkpointed/runner/mapping"
)

// Build turns a defaulted, valid SyncJob into an engine configuration with its source,
// sink and mapping; the caller adds the store, the lock and where the audit goes. The
// returned function closes the connectors.
func Build(ctx context.Context, log logr.Logger, sj *syncv1.SyncJob, runID, trigger string) (engine.Config, func(), error) {
	s := &sj.Spec
	limiter, err := httpLimiter(s.RateLimit)
	if err != nil {
		return engine.Config{}, nil, fmt.Errorf("spec.rateLimit: %w", err)
	}
	budget, err := httpWaitBudget(s)
	if err != nil {
		return engine.Config{}, nil, err
	}
	w := wiring{log: log, spec: s, limiter: limiter, budget: budget}
	mspec := mappingSpec(s)
	// An HTTP sink's client is made first: lookups in the mapping go through it.
	var sinkClient *transport.Client
	if h := s.Sink.HTTP; h != nil {
		if sinkClient, err = w.httpClient("spec.sink.http", h.Auth, h.Headers, h.Retry); err != nil {
			return engine.Config{}, nil, err
		}
		if hasLookups(mspec.Fields) {
			res, err := httpapi.NewResolver(h.URL, sinkClient, httpapi.ResolverOptions{Logger: log.WithName("lookup")})
			if err != nil {
				return engine.Config{}, nil, fmt.Errorf("spec.mapping: %w", err)
			}
			mspec.Resolver = res
		}
	}
	// The mapping compiles its CEL expressions (the process's first compile takes
	// milliseconds) while the connectors connect; its error comes first, as it would
	// sequentially, and cancels the connecting.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	compiled := make(chan struct{})
	var m *mapping.Mapping
	var merr error
	compile := func() {
		defer close(compiled)
		if m, merr = mapping.New(mspec); merr != nil {
			cancel()
		}
	}
	mapped := func() (*mapping.Mapping, error) { <-compiled; return m, merr }
	src, sink, err := w.newConnectors(cctx, mspec, compile, mapped, runID, sinkClient)
	if _, merr := mapped(); merr != nil {
		if err == nil {
			_ = src.Close()
			_ = sink.Close()
		}
		return engine.Config{}, nil, fmt.Errorf("spec.mapping: %w", merr)
	}
	if err != nil {
		return engine.Config{}, nil, err
	}
	closeAll := func() { _ = src.Close(); _ = sink.Close() }
	// Defaulting sets these; a nil one is a SyncJob that was not defaulted, never "0".
	if s.Errors.MaxErrors == nil || s.Reconcile.Sample == nil {
		closeAll()
		return engine.Config{}, nil, errors.New("spec.errors.maxErrors and spec.reconcile.sample are required: the SyncJob was not defaulted")
	}
	if err := checkMode(s); err != nil {
		closeAll()
		return engine.Config{}, nil, err
	}

	cfg := engine.Config{
		Job:      sj.Name,
		RunID:    runID,
		Trigger:  trigger,
		Source:   src,
		Sink:     sink,
		Mapper:   m,
		Logger:   log,
		PageSize: pageSize(s),
		// spec.pageSize unset: the engine chooses each page's size, starting at PageSize.
		AdaptivePageSize:   s.PageSize == 0,
		SafetyGap:          s.Cursor.SafetyGap.Duration,
		CheckpointInterval: s.Checkpoint.Interval.Duration,
		ErrorPolicy:        engine.ErrorPolicy(s.Errors.Policy),
		MaxErrors:          int(*s.Errors.MaxErrors),
		Reconcile:          engine.Reconcile{Window: s.Reconcile.Window.Duration, Sample: int(*s.Reconcile.Sample)},
		MappingFingerprint: mspec.Fingerprint(),
		OnMappingChange:    engine.MappingChangePolicy(s.OnMappingChange),
		// Snapshot mode reads the whole source each run: the keys it no longer has are found
		// by full key reconciliation, which deletesConfig schedules after every complete run.
		Snapshot: snapshot(s),
		// Snapshot records are hashed as read, before mapping, when the mapping allows it.
		SnapshotRowHash: snapshotRowHash(s, mspec),
		// The overlap's version digests need the key as a source field (overlapdigest.go).
		OverlapKey: overlapKey(s, src),
	}
	if cfg.Deletes, err = deletesConfig(s, src, sink); err != nil {
		closeAll()
		return engine.Config{}, nil, err
	}
	if cfg.Deletes.Tombstones, err = w.tombstones(s); err != nil {
		closeAll()
		return engine.Config{}, nil, err
	}
	if s.Cursor.StartAt != "" {
		t, err := time.Parse(time.RFC3339Nano, s.Cursor.StartAt)
		if err != nil {
			closeAll()
			return engine.Config{}, nil, fmt.Errorf("spec.cursor.startAt: %w", err)
		}
		cfg.StartAt = t.UTC()
	}
	return cfg, closeAll, nil
}

// checkMode refuses spec.cursor.mode values the runner cannot run (the CRD refuses them
// too; this guards local mode and a SyncJob that never passed admission).
func checkMode(s *syncv1.SyncJobSpec) error {
	switch s.Cursor.Mode {
	case syncv1.CursorIncremental:
	case syncv1.CursorSnapshot:
		if s.Source.Postgres == nil {
			return errors.New("spec.cursor.mode Snapshot needs a postgres source: an HTTP source cannot be scanned by id")
		}
		if s.Sink.Postgres == nil {
			return errors.New("spec.cursor.mode Snapshot needs a postgres sink: an HTTP sink cannot store content hashes")
		}
	default:
		return fmt.Errorf("spec.cursor.mode %q: want Incremental or Snapshot (the SyncJob was not defaulted?)", s.Cursor.Mode)
	}
	return nil
}

// wiring builds one run's connectors. Every HTTP client of the run shares one token
// bucket (spec.rateLimit), one retry-wait budget (retry.maxTotalWait) and the system clock
// (the transport's default).
type wiring struct {
	log     logr.Logger
	spec    *syncv1.SyncJobSpec
	limiter *rate.Limiter
	budget  *transport.WaitBudget
}

// newSource builds the source the spec names.
func (w wiring) newSource(ctx context.Context, mapped func() (*mapping.Mapping, error)) (connector.Source, error) {
	switch s := w.spec.Source; {
	case s.Postgres != nil:
		return w.postgresSource(ctx, s.Postgres, mapped)
	case s.HTTP != nil:
		return w.httpSource(s.HTTP)
	}
	return nil, errors.New("spec.source must set exactly one of postgres or http")
}

// newConnectors builds the source and the sink at once (each connects and inspects its
// table) while compile compiles the mapping, and checks the mapping, which mapped waits
// for, against the source's columns. The source's goroutine starts before the compile's:
// the connections wait on the network most of the time, the compile uses a processor
// throughout, and started first on 2 processors it kept the source from dialling for about
// a scheduler time slice (the second connection dialled 10.1 ms after the first, median of
// 15 runs; 1.7 ms in this order). Errors come in the order a sequential setup would meet
// them: the mapping's (mapped returns it: nothing more is checked, the caller reports it),
// the source's, the columns', the sink's; nothing stays open after one.
func (w wiring) newConnectors(ctx context.Context, mspec mapping.Spec, compile func(), mapped func() (*mapping.Mapping, error), runID string, client *transport.Client) (connector.Source, connector.Sink, error) {
	type built struct {
		src connector.Source
		err error
	}
	srcCh := make(chan built, 1)
	go func() {
		src, err := w.newSource(ctx, mapped)
		srcCh <- built{src, err}
	}()
	go compile()
	sink, sinkErr := w.newSink(ctx, mspec, mapped, runID, client)
	b := <-srcCh
	m, err := mapped()
	if err == nil {
		err = b.err
	}
	if err == nil {
		err = checkColumns(b.src, m)
	}
	if err == nil {
		err = sinkErr
	}
	if err != nil {
		if b.src != nil && b.err == nil {
			_ = b.src.Close()
		}
		if sink != nil && sinkErr == nil {
			_ = sink.Close()
		}
		return nil, nil, err
	}
	return b.src, sink, nil
}

// newSink builds the sink the spec names; client is the HTTP sink's client (nil for other
// sinks). A PostgreSQL sink needs only the mapping's field names, which mspec has (they are
// the mapping's once it compiles), so it does not wait for mapped; an HTTP sink does.
func (w wiring) newSink(ctx context.Context, mspec mapping.Spec, mapped func() (*mapping.Mapping, error), runID string, client *transport.Client) (connector.Sink, error) {
	switch s := w.spec.Sink; {
	case s.Postgres != nil:
		return w.postgresSink(ctx, s.Postgres, mspec.Key.Field, fieldNames(mspec), runID)
	case s.HTTP != nil:
		m, err := mapped()
		if err != nil {
			return nil, err
		}
		return w.httpSink(s.HTTP, m, client)
	}
	return nil, errors.New("spec.sink must set exactly one of postgres or http")
}

// fieldNames are the sink fields of mspec, in order: the mapping's Fields once it compiles.
func fieldNames(mspec mapping.Spec) []string {
	names := make([]string, len(mspec.Fields))
	for i, f := range mspec.Fields {
		names[i] = f.To
	}
	return names
}

// pageSize is the engine's (starting) page size: spec.pageSize, or where the adaptive
// size starts when it is unset.
func pageSize(s *syncv1.SyncJobSpec) int {
	if s.PageSize == 0 {
		return engine.StartPageSize
	}
	return int(s.PageSize)
}
