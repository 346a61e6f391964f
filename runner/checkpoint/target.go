package checkpoint

import "github.com/checkpointed/checkpointed/internal/runcontract"

// ClearFailedKeys forgets st's failed keys and their positions (a reset with
// --clear-failed-keys): those records are no longer retried; a reset to an earlier time
// reads them again.
func ClearFailedKeys(st *runcontract.Checkpoint) {
	st.FailedKeys, st.FailedUpdatedAt = nil, nil
}
