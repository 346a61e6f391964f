package mapping

// SourceFields names every top-level record field the mapping reads: the first segment of
// each from path, the fields expressions and the key expression read by name, and the
// first segment of the deletion marker, in that order, without repeats. A record carrying
// only those (and its id) maps exactly as the whole record does, so that a source may
// read nothing else. ok is false when an expression uses `record` other than by reading
// a named field (record as a whole, a computed index): then every field may matter.
func (m *Mapping) SourceFields() (fields []string, ok bool) {
	if m.keyProg != nil && !m.keyNamed {
		return nil, false
	}
	seen := map[string]bool{}
	add := func(f string) {
		if !seen[f] {
			seen[f] = true
			fields = append(fields, f)
		}
	}
	for i := range m.fields {
		f := &m.fields[i]
		switch {
		case f.path != nil:
			add(f.path[0])
		case !f.named:
			return nil, false
		default:
			for _, ref := range f.refs {
				add(ref)
			}
		}
	}
	for _, ref := range m.keyRefs {
		add(ref)
	}
	if m.deleted != nil {
		add(m.deleted[0])
	}
	return fields, true
}
