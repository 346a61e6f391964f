package transport

import (
	"encoding/base64"
	"fmt"
	"net/http"

	"github.com/checkpointed/checkpointed/api/v1alpha1"
)

// Auth types, as in spec.*.auth.type.
const (
	AuthBearer = "Bearer"
	AuthBasic  = "Basic"
	AuthAPIKey = "APIKey"
)

// Auth is a resolved credential. Its fields are unexported and it formats as
// "auth(<type>)" under every verb, so a credential never reaches a log line or an error by
// accident.
type Auth struct {
	kind   string
	header string // header name carrying the credential
	value  string // full header value
	// secrets are the strings that must never be printed: the token, the password, the
	// encoded Basic pair.
	secrets []string
}

// BearerAuth sends "Authorization: Bearer <token>".
func BearerAuth(token string) *Auth {
	return &Auth{kind: AuthBearer, header: "Authorization", value: "Bearer " + token, secrets: []string{token}}
}

// BasicAuth sends "Authorization: Basic <base64(user:password)>".
func BasicAuth(user, password string) *Auth {
	enc := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	return &Auth{kind: AuthBasic, header: "Authorization", value: "Basic " + enc, secrets: []string{password, enc}}
}

// APIKeyAuth sends the key in the named header (X-API-Key when header is empty).
func APIKeyAuth(header, key string) *Auth {
	if header == "" {
		header = "X-API-Key"
	}
	return &Auth{kind: AuthAPIKey, header: header, value: key, secrets: []string{key}}
}

// SecretLookup resolves a secretKeyRef to its value; field names the spec field for errors.
type SecretLookup func(field string, ref v1alpha1.SecretKeyRef) (string, error)

// AuthFromSpec resolves spec.*.auth (field is its path, for errors). A nil spec is no auth.
func AuthFromSpec(field string, spec *v1alpha1.HTTPAuth, lookup SecretLookup) (*Auth, error) {
	if spec == nil {
		return nil, nil
	}
	secret, err := lookup(field+".secret", spec.Secret)
	if err != nil {
		return nil, err
	}
	switch spec.Type {
	case AuthBearer:
		return BearerAuth(secret), nil
	case AuthBasic:
		if spec.Username == nil {
			return nil, fmt.Errorf("%s.username is required for Basic auth", field)
		}
		user, err := lookup(field+".username", *spec.Username)
		if err != nil {
			return nil, err
		}
		return BasicAuth(user, secret), nil
	case AuthAPIKey:
		return APIKeyAuth(spec.Header, secret), nil
	}
	return nil, fmt.Errorf("%s.type must be Bearer, Basic or APIKey, not %q", field, spec.Type)
}

// apply sets the credential header on h.
func (a *Auth) apply(h http.Header) {
	if a != nil {
		h.Set(a.header, a.value)
	}
}

// String names the auth type only.
func (a *Auth) String() string {
	if a == nil {
		return "auth(none)"
	}
	return "auth(" + a.kind + ")"
}

// GoString names the auth type only.
func (a *Auth) GoString() string { return a.String() }

// Format prints String under every verb, so %+v and %#v do not reveal the fields.
func (a *Auth) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(a.String())) }
