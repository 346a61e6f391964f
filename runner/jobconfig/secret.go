package jobconfig

import (
	"fmt"
	"os"
	"strings"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/runcontract"
)

// secret resolves the secretKeyRef at field from the environment variable the controller
// maps it to (runcontract.SecretEnvName). The error names the field, the Secret, the key
// and the variable, never a value. An empty or whitespace value is refused: a client given
// an empty credential falls back to defaults (libpq's PGHOST, PGUSER, ...) and would talk to
// whatever those name.
func secret(field string, ref syncv1.SecretKeyRef) (string, error) {
	name := runcontract.SecretEnvName(ref.Name, ref.Key)
	v, ok := os.LookupEnv(name)
	if !ok {
		return "", fmt.Errorf("%s: secret %q key %q: environment variable %s is not set", field, ref.Name, ref.Key, name)
	}
	if strings.TrimSpace(v) == "" {
		return "", fmt.Errorf("%s: secret %q key %q (environment variable %s) is empty", field, ref.Name, ref.Key, name)
	}
	return v, nil
}
