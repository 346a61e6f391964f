package jobconfig

import (
	"fmt"
	"regexp"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/connector/httpapi"
	"github.com/checkpointed/checkpointed/runner/engine"
)

// keyForm matches the key expressions full key reconciliation supports: record.<field>,
// string(record.<field>) and "<prefix>" + string(record.<field>) (or + record.<field>).
var keyForm = regexp.MustCompile(`^\s*(?:"([^"\\]*)"\s*\+\s*)?(?:string\(\s*record\.([A-Za-z_][A-Za-z0-9_]*)\s*\)|record\.([A-Za-z_][A-Za-z0-9_]*))\s*$`)

// keySource says how the external key is made from one top-level source field: key =
// prefix + the field's text form. ok false: the key is an expression full key
// reconciliation cannot list from the source.
func keySource(s *syncv1.SyncJobSpec) (field, prefix string, ok bool) {
	if s.Key.Expr == "" {
		return "id", sourceName(s.Source) + ":", true
	}
	m := keyForm.FindStringSubmatch(s.Key.Expr)
	if m == nil {
		return "", "", false
	}
	field = m[2]
	if field == "" {
		field = m[3]
	}
	return field, m[1], true
}

// sourceKeyField is keySource with the field named as the source names it: for a
// Postgres source, "id" absent from its columns is the record id, its id column.
func sourceKeyField(s *syncv1.SyncJobSpec, src connector.Source) (field, prefix string, ok bool) {
	field, prefix, ok = keySource(s)
	if ok && field == "id" && s.Source.Postgres != nil {
		if _, has := columnOf(src, "id"); !has {
			field = s.Source.Postgres.IDColumn
		}
	}
	return field, prefix, ok
}

// overlapKey is how the overlap's version digests make the external key from a source
// field (engine.Config.OverlapKey), or nil when the key is not such a form.
func overlapKey(s *syncv1.SyncJobSpec, src connector.Source) *engine.SourceKey {
	field, prefix, ok := sourceKeyField(s, src)
	if !ok {
		return nil
	}
	return &engine.SourceKey{Field: field, Prefix: prefix}
}

// deletesConfig translates spec.deletes into the engine's full key reconciliation and
// delete valve settings (on-demand requests and confirmations are added by the caller). A
// fullReconcile the source, the sink or the key cannot support is refused at setup,
// naming what is missing.
func deletesConfig(s *syncv1.SyncJobSpec, src connector.Source, sink connector.Sink) (engine.Deletes, error) {
	d := engine.Deletes{MaxFraction: 0.05}
	if p := s.Deletes.MaxFractionPercent; p != nil {
		d.MaxFraction = float64(*p) / 100
	}
	if f := s.Deletes.FullReconcile; f != nil {
		d.EveryRuns = int(f.EveryRuns)
	}
	if s.Deletes.Mode == "Ignore" || s.Deletes.Mode == "" {
		return d, nil
	}
	if snapshot(s) && d.EveryRuns == 0 {
		// A Snapshot run reads the whole source anyway: reconcile keys after every
		// complete run unless spec.deletes.fullReconcile.everyRuns says otherwise.
		d.EveryRuns = 1
	}
	if d.EveryRuns > 0 && s.Source.HTTP != nil && s.Source.HTTP.IDsURL == "" {
		return d, fmt.Errorf("spec.deletes.fullReconcile with an HTTP source needs spec.source.http.idsUrl")
	}
	if d.EveryRuns > 0 && s.Sink.HTTP != nil && s.Sink.HTTP.KeysURL == "" {
		return d, fmt.Errorf("spec.deletes.fullReconcile with an HTTP sink needs spec.sink.http.keysUrl")
	}
	if d.EveryRuns > 0 && s.Sink.HTTP != nil && s.Deletes.Mode == "SoftDelete" {
		return d, fmt.Errorf("spec.deletes.fullReconcile with spec.deletes.mode SoftDelete: %w", httpapi.ErrSoftDeleteByKey)
	}
	if (s.Source.HTTP != nil && s.Source.HTTP.IDsURL == "") || (s.Sink.HTTP != nil && s.Sink.HTTP.KeysURL == "") {
		return d, nil // an on-demand reconciliation fails at the end of the run, naming the field
	}
	lister, ok := src.(connector.FieldLister)
	if !ok {
		if d.EveryRuns > 0 {
			return d, fmt.Errorf("spec.deletes.fullReconcile: this source cannot list its keys")
		}
		return d, nil
	}
	_, okL := sink.(connector.KeyLister)
	_, okD := sink.(connector.KeyDeleter)
	if !okL || !okD {
		if d.EveryRuns > 0 {
			return d, fmt.Errorf("spec.deletes.fullReconcile: this sink cannot list or delete its keys")
		}
		return d, nil
	}
	field, prefix, ok := sourceKeyField(s, src)
	if !ok {
		if d.EveryRuns > 0 {
			return d, fmt.Errorf("spec.deletes.fullReconcile: spec.key.expr %q is not a form whose keys can be listed from the source: "+
				`use the default key, record.<field>, string(record.<field>) or "<prefix>" + string(record.<field>)`, s.Key.Expr)
		}
		return d, nil
	}
	d.SourceKeys = engine.PrefixedKeys(lister, field, prefix)
	return d, nil
}

// columnOf reports whether a source with known columns has column name.
func columnOf(src connector.Source, name string) (string, bool) {
	c, ok := src.(connector.Columns)
	if !ok {
		return "", false
	}
	_, names := c.Columns()
	for _, n := range names {
		if n == name {
			return n, true
		}
	}
	return "", false
}

// DeleteRequest adds an operator's delete requests to a built run: force makes the run end
// with a full key reconciliation (reconcile-requested-at, --full-reconcile), confirm is
// the delete valve's confirmation token (confirm-deletes, --confirm-deletes). Under
// spec.deletes.mode Ignore there is nothing to delete: force is dropped and the returned
// note says so ("" otherwise).
func DeleteRequest(cfg *engine.Config, sj *syncv1.SyncJob, force bool, confirm string) (note string) {
	cfg.Deletes.Confirm = confirm
	if !force {
		return ""
	}
	if m := sj.Spec.Deletes.Mode; m == "" || m == "Ignore" {
		return "full key reconciliation requested, but spec.deletes.mode is Ignore: nothing would be deleted, so it is skipped"
	}
	if cfg.Deletes.SourceKeys == nil {
		// A reconcile request is also how a confirmation reaches a run that only applies
		// tombstones: the run goes on with the confirmation, without reconciliation.
		return "full key reconciliation requested, but this source or sink cannot list its keys (see spec.deletes.fullReconcile): it is skipped"
	}
	cfg.Deletes.Force = true
	return ""
}

// tombstones wires spec.source.http.deletedUrl: the deleted-records listing, read with its
// own client (the source's auth, headers, retry and the shared rate limit), and the key
// of a deleted record from its id, which needs a key made from the id (the default key, or
// a key.expr of a supported form over record.id or the idPath field).
func (w wiring) tombstones(s *syncv1.SyncJobSpec) (engine.Tombstones, error) {
	h := s.Source.HTTP
	if h == nil || h.DeletedURL == "" || s.Deletes.Mode == "" || s.Deletes.Mode == "Ignore" {
		return engine.Tombstones{}, nil
	}
	if s.Sink.HTTP != nil && s.Deletes.Mode == "SoftDelete" {
		return engine.Tombstones{}, fmt.Errorf("spec.source.http.deletedUrl with spec.deletes.mode SoftDelete: %w", httpapi.ErrSoftDeleteByKey)
	}
	field, prefix, ok := keySource(s)
	if !ok || (field != "id" && field != h.IDPath) {
		return engine.Tombstones{}, fmt.Errorf("spec.source.http.deletedUrl: a deleted record is known by its id only, so spec.key.expr must be the default "+
			`or "<prefix>" + string(record.id), not %q`, s.Key.Expr)
	}
	c, err := w.httpClient("spec.source.http", h.Auth, h.Headers, h.Retry)
	if err != nil {
		return engine.Tombstones{}, err
	}
	t, err := httpapi.NewTombstones(httpSourceConfig(h), h.DeletedURL, h.DeletedAtPath, pageSize(s), c,
		httpapi.SourceOptions{Logger: w.log.WithName("deleted")})
	if err != nil {
		return engine.Tombstones{}, fmt.Errorf("spec.source.http.deletedUrl: %w", err)
	}
	return engine.Tombstones{Lister: t, KeyOf: func(id string) string { return prefix + id }}, nil
}
