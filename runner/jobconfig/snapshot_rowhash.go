package jobconfig

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"runtime/debug"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/runner/mapping"
)

// snapshotRowHash is engine.Config.SnapshotRowHash for a Snapshot job: a fingerprint of
// everything besides a source record that decides what the runner writes for it — the key
// and mapping entries, the deleted marker, the source table, id column and time zone (a
// zone-less timestamp is read in it), and the runner build (its conversion rules) — so
// that a change of any of them changes every record's hash and rewrites every row once.
// "" (records are hashed after mapping) when not in Snapshot mode or when an entry has a
// lookup: its value depends on the sink, not on the record alone.
func snapshotRowHash(s *syncv1.SyncJobSpec, m mapping.Spec) string {
	if !snapshot(s) || hasLookups(m.Fields) || s.Source.Postgres == nil {
		return ""
	}
	p := s.Source.Postgres
	doc := struct {
		Mapping      string `json:"mapping"`
		DeletedField string `json:"deletedField"`
		Table        string `json:"table"`
		IDColumn     string `json:"idColumn"`
		TimeZone     string `json:"timeZone"`
		Runner       string `json:"runner"`
	}{m.Fingerprint(), m.DeletedField, p.Table, p.IDColumn, p.TimeZone, runnerBuild()}
	data, _ := json.Marshal(doc) // strings only: cannot fail
	sum := sha256.Sum256(data)
	return "r1-" + hex.EncodeToString(sum[:8])
}

// runnerBuild names the runner build: its module version and VCS revision, when the
// binary records them.
func runnerBuild() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	out := bi.Main.Path + "@" + bi.Main.Version
	for _, st := range bi.Settings {
		switch st.Key {
		case "vcs.revision", "vcs.modified":
			out += " " + st.Key + "=" + st.Value
		}
	}
	return out
}
