package mapping

import (
	"slices"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// KeyFields names the top-level record fields the external key and the deletion marker
// are computed from, so that a record carrying only those (and its id) gets the key Map
// gives it (KeyOf): none for the default key, the fields a key expression reads by name,
// and the first segment of Spec.DeletedField. ok is false when the key expression uses
// `record` other than by reading a named field (record as a whole, a computed index): its
// fields cannot be named.
func (m *Mapping) KeyFields() (fields []string, ok bool) {
	if m.keyProg != nil && !m.keyNamed {
		return nil, false
	}
	fields = slices.Clone(m.keyRefs)
	if m.deleted != nil {
		fields = append(fields, m.deleted[0])
	}
	return distinct(fields), true
}

// distinct drops the repeats from names, in place, keeping each name's first place.
func distinct(names []string) []string {
	seen := make(map[string]bool, len(names))
	out := names[:0]
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// KeyOf returns the external key of rec and whether it is marked deleted, as Map computes
// them; rec needs to carry only the fields KeyFields names. The error is Map's for the
// key or the deletion marker.
func (m *Mapping) KeyOf(rec connector.Record) (key string, deleted bool, err error) {
	if m.deleted != nil {
		v, found, err := lookup(rec, m.deleted)
		if err != nil {
			return "", false, err
		}
		deleted = found && v != nil && v != false
	}
	var act *activation
	if m.keyProg != nil {
		act = &activation{record: celRecord(rec)}
	}
	key, err = m.key(rec, act)
	if err != nil {
		return "", false, err
	}
	return key, deleted, nil
}

// IDKeyPrefix returns the prefix of the default key: with no key expression and no
// deletion marker, the key of a record with an id is prefix + its id, and no record is
// marked deleted (KeyOf). ok is false otherwise.
func (m *Mapping) IDKeyPrefix() (prefix string, ok bool) {
	if m.keyProg != nil || m.deleted != nil {
		return "", false
	}
	return m.keyPrefix, true
}
