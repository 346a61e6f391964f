package mapping

// SourceFields names every top-level record field the mapping reads: the first segment of
// each from path, the fields expressions read by name, then KeyFields (the key
// expression's fields and the deletion marker's first segment), without repeats. A record
// carrying only those (and its id) maps exactly as the whole record does, so that a source
// may read nothing else. ok is false when an expression uses `record` other than by
// reading a named field (record as a whole, a computed index): then every field may matter.
func (m *Mapping) SourceFields() (fields []string, ok bool) {
	keyFields, ok := m.KeyFields()
	if !ok {
		return nil, false
	}
	for i := range m.fields {
		f := &m.fields[i]
		switch {
		case f.path != nil:
			fields = append(fields, f.path[0])
		case !f.named:
			return nil, false
		default:
			fields = append(fields, f.refs...)
		}
	}
	return distinct(append(fields, keyFields...)), true
}
