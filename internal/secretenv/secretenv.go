// Package secretenv names the environment variable that carries one Secret key to the
// runner. The controller maps each secretKeyRef of a SyncJob to such a variable (with
// valueFrom.secretKeyRef, so the runner never reads Secrets through the API), and local
// mode reads the same variables, so one SyncJob file works in both places.
package secretenv

import (
	"fmt"
	"os"
	"strings"
)

// Name returns the variable for key of Secret secret: "<SECRET>_<KEY>" upper-cased, with
// every character outside [A-Z0-9_] ("-", ".", ...) replaced by "_". For example Secret
// "billing-db", key "dsn" → "BILLING_DB_DSN".
func Name(secret, key string) string {
	return sanitize(secret) + "_" + sanitize(key)
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			return r
		}
		return '_'
	}, s)
}

// Lookup resolves Secret secret's key from the environment. The error names the Secret,
// the key and the variable, never a value.
func Lookup(secret, key string) (string, error) {
	name := Name(secret, key)
	v, ok := os.LookupEnv(name)
	if !ok {
		return "", fmt.Errorf("secret %q key %q: environment variable %s is not set", secret, key, name)
	}
	return v, nil
}
