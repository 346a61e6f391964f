package mapping

import "github.com/checkpointed/checkpointed/runner/connector"

// maxFreeValues bounds the Values maps a Mapping keeps for reuse: two pages of the
// largest size (spec.pageSize and the engine's adaptive size are at most 10,000), the
// most a run holds at once.
const maxFreeValues = 20000

// RecycleValues takes back the Values maps of records the caller is done with, for the
// records mapped next (the engine's ValuesRecycler: it hands back only the maps of
// written batches, each once, and keeps no reference to them). The records' Values are
// set to nil.
func (m *Mapping) RecycleValues(ws []connector.WriteRecord) {
	m.freeMu.Lock()
	defer m.freeMu.Unlock()
	for i := range ws {
		if v := ws[i].Values; v != nil && len(m.free) < maxFreeValues {
			m.free = append(m.free, v)
		}
		ws[i].Values = nil
	}
}

// valuesMap returns an empty map for a record's Values: a recycled one, else a new one.
func (m *Mapping) valuesMap() map[string]any {
	m.freeMu.Lock()
	n := len(m.free)
	if n == 0 {
		m.freeMu.Unlock()
		return make(map[string]any, len(m.fields))
	}
	v := m.free[n-1]
	m.free[n-1] = nil
	m.free = m.free[:n-1]
	m.freeMu.Unlock()
	clear(v)
	return v
}
