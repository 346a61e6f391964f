package transport

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
)

// Auth types of AuthConfig.Type.
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

// APIKeyAuth sends the key in the named header, which must not be empty.
func APIKeyAuth(header, key string) *Auth {
	return &Auth{kind: AuthAPIKey, header: header, value: key, secrets: []string{key}}
}

// AuthConfig is a credential with its secrets already resolved. It formats as
// "authConfig(<type>)" under every verb, and its errors never hold a secret.
type AuthConfig struct {
	// Type is AuthBearer, AuthBasic or AuthAPIKey.
	Type string
	// Header carries the key for APIKey auth; required for APIKey.
	Header string
	// Username for Basic auth; required for Basic.
	Username string
	// Secret is the token, the password or the API key; required.
	Secret string
}

// Validate reports the first field that is missing or wrong for the type, by name.
func (c AuthConfig) Validate() error {
	switch c.Type {
	case AuthBearer, AuthBasic, AuthAPIKey:
	default:
		return fmt.Errorf("type must be Bearer, Basic or APIKey, not %q", c.Type)
	}
	if c.Secret == "" {
		return errors.New("secret is empty")
	}
	if c.Type == AuthBasic && c.Username == "" {
		return errors.New("username is required for Basic auth")
	}
	if c.Type == AuthAPIKey && c.Header == "" {
		return errors.New("header is required for APIKey auth")
	}
	return nil
}

// String names the auth type only.
func (c AuthConfig) String() string { return "authConfig(" + c.Type + ")" }

// GoString names the auth type only.
func (c AuthConfig) GoString() string { return c.String() }

// Format prints String under every verb, so %+v and %#v do not reveal the secrets.
func (c AuthConfig) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

// NewAuth turns a valid AuthConfig into the credential a Client sends.
func NewAuth(c AuthConfig) (*Auth, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	switch c.Type {
	case AuthBasic:
		return BasicAuth(c.Username, c.Secret), nil
	case AuthAPIKey:
		return APIKeyAuth(c.Header, c.Secret), nil
	}
	return BearerAuth(c.Secret), nil
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
