package runcontract

import (
	"errors"
	"fmt"
	"time"

	"github.com/checkpointed/checkpointed/internal/cursor"
)

// ResetToBeginning is the reset target that empties the cursor: the next run reads
// everything.
const ResetToBeginning = "beginning"

// ParseResetTarget reads where a reset moves the checkpoint (the reset-to annotation,
// EnvResetTo, --to): ResetToBeginning (nil) or an RFC3339 time (the next run starts
// there, less the safety gap), in UTC. The controller validates a request with it before
// starting the reset Job, and the runner reads the Job's value with it, so both sides
// accept the same values.
func ParseResetTarget(to string) (*cursor.Cursor, error) {
	switch to {
	case "":
		return nil, errors.New("reset needs a target: an RFC3339 time or 'beginning'")
	case ResetToBeginning:
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, to)
	if err != nil {
		return nil, fmt.Errorf("reset target %q is neither 'beginning' nor an RFC3339 time", to)
	}
	return &cursor.Cursor{UpdatedAt: t.UTC()}, nil
}

// ParseClearFailedKeys reads whether a reset also forgets the failed keys (the
// reset-failed-keys annotation, EnvResetClearFailedKeys): "" and "false" keep them,
// "true" clears them; anything else is an error.
func ParseClearFailedKeys(v string) (bool, error) {
	switch v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, fmt.Errorf("%q is neither 'true' nor 'false'", v)
}
