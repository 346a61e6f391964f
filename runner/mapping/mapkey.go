package mapping

import "github.com/checkpointed/checkpointed/runner/connector"

// MapKey returns the external key Map gives rec without mapping its values (the engine's
// KeyMapper, for Snapshot mode's hashes of source records), or the error Map returns for
// the key. Safe for concurrent use.
func (m *Mapping) MapKey(rec connector.Record) (string, error) {
	var act *activation
	if m.keyProg != nil {
		act = &activation{record: celRecord(rec)}
	}
	return m.key(rec, act)
}
