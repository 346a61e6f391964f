package mapping

import (
	"testing"

	"github.com/checkpointed/checkpointed/internal/speccheck"
)

// TestControllerCompilesAsTheRunner: the controller's compile check (internal/speccheck,
// which may not import the runner) accepts exactly the expressions the runner's own CEL
// environment compiles, so that a SyncJob is never Stalled for an expression that would
// run, nor passed with one that would not.
func TestControllerCompilesAsTheRunner(t *testing.T) {
	env, err := newEnv()
	if err != nil {
		t.Fatal(err)
	}
	for _, expr := range []string{
		`record.total`, `record.total * 100`, `decimal(record.total) * 100`, `int(decimal(record.total) * 100)`,
		`string(decimal("1.50"))`, `decimal(3)`, `decimal(decimal("1"))`, `-decimal("1")`,
		`decimal("1") + 2`, `decimal("1") - decimal("2")`, `decimal("1") < 2`, `decimal("1") >= decimal("2")`,
		`record.name.upperAscii()`, `record.?nickname.orValue("none")`, `"inv-" + string(record.id)`,
		`has(record.x) ? record.x : null`, `[1, 2].map(x, x * 2)`,
		// Refused by both.
		`record.`, `(`, `cents(record.total)`, `decimal(1.5)`, `decimal("1") / 2`, `2 + decimal("1")`,
		`record.total +`, `nosuchvar.x`, `decimal("1") + 1.5`,
	} {
		_, _, _, _, runnerErr := compile(env, expr)
		controllerErr := speccheck.CompileExpr(expr)
		if (runnerErr == nil) != (controllerErr == nil) {
			t.Errorf("%q: the runner says %v, the controller says %v", expr, runnerErr, controllerErr)
		}
	}
}
