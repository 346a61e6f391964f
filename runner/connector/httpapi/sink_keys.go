package httpapi

import (
	"context"
	"errors"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// ErrSoftDeleteByKey: the HTTP sink cannot mark an object deleted knowing only its key
// (its upsert writes the whole object), so tombstones and full key reconciliation need
// DeleteMode Delete (or Ignore) on an HTTP sink.
var ErrSoftDeleteByKey = errors.New("the HTTP sink cannot soft-delete by key: use spec.deletes.mode Delete, or a source soft-delete marker (spec.deletes.sourceField)")

// DeleteKeys removes the objects of the keys (connector.KeyDeleter), one DELETE each as
// for a deleted record (see Sink's Deletes: a 404 or 410 counts as removed); under
// DeleteIgnore every key is Unchanged; under DeleteSoft it fails with ErrSoftDeleteByKey.
func (s *Sink) DeleteKeys(ctx context.Context, dels []connector.KeyDelete) ([]connector.Result, error) {
	results := make([]connector.Result, len(dels))
	switch s.cfg.DeleteMode {
	case DeleteIgnore:
		for i := range results {
			results[i] = connector.Result{Outcome: connector.Unchanged}
		}
		return results, nil
	case DeleteSoft:
		return nil, ErrSoftDeleteByKey
	}
	for i, d := range dels {
		res, err := s.deleteOne(ctx, connector.WriteRecord{Key: d.Key, SourceID: d.Key, SourceUpdatedAt: d.At, Deleted: true})
		if err != nil {
			return nil, err
		}
		results[i] = res
	}
	return results, nil
}

var _ connector.KeyDeleter = (*Sink)(nil)
