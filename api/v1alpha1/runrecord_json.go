package v1alpha1

import "encoding/json"

// MarshalJSON encodes a run record with its counts (read, upserted, unchanged, skipped,
// failed, deleted) left out when CountsUnknown is true: a run recorded for a runner that
// never reported has no counts, and a stored zero would read as "read 0". A record the
// runner wrote keeps every count, a true 0 included (deleted only when not 0).
func (r RunRecord) MarshalJSON() ([]byte, error) {
	type plain RunRecord // the same fields without this method
	if !r.CountsUnknown {
		return json.Marshal(plain(r))
	}
	// The outer fields hide the embedded ones of the same JSON name; nil leaves them out.
	return json.Marshal(struct {
		plain
		Read      *int64 `json:"read,omitempty"`
		Upserted  *int64 `json:"upserted,omitempty"`
		Unchanged *int64 `json:"unchanged,omitempty"`
		Skipped   *int64 `json:"skipped,omitempty"`
		Failed    *int64 `json:"failed,omitempty"`
		Deleted   *int64 `json:"deleted,omitempty"`
	}{plain: plain(r)})
}
