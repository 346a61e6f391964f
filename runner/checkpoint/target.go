package checkpoint

import (
	"errors"
	"fmt"
	"time"

	"github.com/checkpointed/checkpointed/internal/cursor"
)

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
