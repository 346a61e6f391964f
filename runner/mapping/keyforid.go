package mapping

import "github.com/checkpointed/checkpointed/runner/connector"

// KeyForID returns the external key a record with this id maps to when the key depends on
// the id alone (the default key, or a key expression that reads only record.id), so that
// a record no longer in the source can still be looked up in the sink. ok is false when
// the key needs other fields.
func (m *Mapping) KeyForID(id string) (key string, ok bool) {
	rec := connector.Record{ID: id, Fields: map[string]any{}}
	var act *activation
	if m.keyProg != nil {
		act = &activation{record: celRecord(rec)}
	}
	key, err := m.key(rec, act)
	if err != nil || key == "" {
		return "", false
	}
	return key, true
}
