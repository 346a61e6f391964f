package checkpoint

import (
	"errors"
	"fmt"
	"time"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/internal/runcontract"
)

// ClearFailedKeys forgets st's failed keys and their positions (a reset with
// --clear-failed-keys): those records are no longer retried; a reset to an earlier time
// reads them again.
func ClearFailedKeys(st *runcontract.Checkpoint) {
	st.FailedKeys, st.FailedUpdatedAt = nil, nil
}

// ParseClearFailedKeys reads runcontract.EnvResetClearFailedKeys: "" and "false" keep the
// failed keys, "true" clears them; anything else is an error.
func ParseClearFailedKeys(v string) (bool, error) {
	switch v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, fmt.Errorf("%s %q is neither true nor false", runcontract.EnvResetClearFailedKeys, v)
}

// ParseResetTarget reads where a reset moves the checkpoint: "beginning" (nil: the next
// run reads everything) or an RFC3339 time (the next run starts there, less the safety gap).
func ParseResetTarget(to string) (*cursor.Cursor, error) {
	switch to {
	case "":
		return nil, errors.New("reset needs a target: an RFC3339 time or 'beginning'")
	case "beginning":
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, to)
	if err != nil {
		return nil, fmt.Errorf("reset target %q is neither 'beginning' nor an RFC3339 time", to)
	}
	return &cursor.Cursor{UpdatedAt: t.UTC()}, nil
}
