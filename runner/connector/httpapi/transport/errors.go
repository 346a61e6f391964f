package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// MaxMessageLen bounds the API error message kept in a StatusError (in bytes).
const MaxMessageLen = 300

// MaxBodyLen bounds the answer body kept in a StatusError (in bytes).
const MaxBodyLen = 4096

// StatusError is an HTTP answer the client did not accept: a 4xx (never retried), or a 429
// or 5xx after the retry budget was spent. A 429 StatusError unwraps to
// connector.ErrRateLimited.
//
// It holds no request headers and no query string, and Message has every credential the
// client knows of (its Auth, and the values of query parameters named like credentials:
// api_key, access_token, signature, ...) replaced by "[redacted]".
type StatusError struct {
	// Method of the request.
	Method string
	// URL of the request without userinfo, query or fragment.
	URL string
	// Code is the HTTP status code.
	Code int
	// Message is the API's error message, truncated to MaxMessageLen.
	Message string
	// Body is the answer's body on one line, redacted like Message and truncated to
	// MaxBodyLen, for matching (a sink's staleWhen); Error does not show it.
	Body string
	// Attempts made, the first included.
	Attempts int
}

// Error renders "METHOD URL: 503 Service Unavailable: message (after 6 attempts)".
func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d %s", e.Method, e.URL, e.Code, http.StatusText(e.Code))
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	return b.String()
}

// Unwrap makes a 429 match connector.ErrRateLimited.
func (e *StatusError) Unwrap() error {
	if e.Code == http.StatusTooManyRequests {
		return connector.ErrRateLimited
	}
	return nil
}

// safeURL renders u without userinfo, query and fragment: query values may hold
// credentials (api_key=...) or opaque page tokens.
func safeURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	return c.String()
}

// apiMessage extracts a short error message from a response body: the first string found
// under a common key of a JSON object ("message", "error", "error_description", "detail",
// "title", "errors"), else the body's text. The result is on one line, redacted and
// truncated.
func apiMessage(body []byte, secrets []string) string {
	msg := ""
	var doc any
	if json.Unmarshal(body, &doc) == nil {
		msg = findMessage(doc, 0)
	}
	if msg == "" {
		msg = string(bytes.TrimSpace(body))
	}
	return redact(msg, secrets, MaxMessageLen)
}

func findMessage(doc any, depth int) string {
	if depth > 3 {
		return ""
	}
	switch v := doc.(type) {
	case string:
		return v
	case map[string]any:
		for _, k := range []string{"message", "error_description", "error", "detail", "title", "errors", "msg"} {
			if m := findMessage(v[k], depth+1); m != "" {
				return m
			}
		}
	case []any:
		if len(v) > 0 {
			return findMessage(v[0], depth+1)
		}
	}
	return ""
}

// redact replaces every secret in s, flattens it to one printable line and truncates it
// to limit bytes.
func redact(s string, secrets []string, limit int) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) > limit {
		cut := limit
		for cut > 0 && !utf8Start(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// credentialParams are fragments of query parameter names whose values may be credentials
// (api_key, access_token, signature, ...): an API that echoes them has them redacted.
var credentialParams = []string{"key", "token", "secret", "pass", "auth", "sig", "credential", "session"}

// querySecrets returns the values of u's query parameters whose names suggest a credential.
func querySecrets(u *url.URL) []string {
	var out []string
	for name, vs := range u.Query() {
		lname := strings.ToLower(name)
		for _, frag := range credentialParams {
			if strings.Contains(lname, frag) {
				out = append(out, vs...)
				break
			}
		}
	}
	return out
}

// Reason names the run's failure for this answer: "RateLimited" for a 429, else
// "HTTP<status>" ("HTTP503").
func (e *StatusError) Reason() string {
	if e.Code == http.StatusTooManyRequests {
		return "RateLimited"
	}
	return fmt.Sprintf("HTTP%d", e.Code)
}

// NetworkError is a request that got no usable answer after its last attempt (or whose
// next retry would pass the retry budget).
type NetworkError struct {
	// Where is "METHOD URL" without userinfo, query or fragment.
	Where string
	// Err is the last attempt's error.
	Err error
	// Attempts made, the first included.
	Attempts int
	// Note explains why no further attempt was made, if not the attempts.
	Note string
}

// Error renders "METHOD URL: error (after 6 attempts; note)".
func (e *NetworkError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %v", e.Where, e.Err)
	var tail []string
	if e.Attempts > 1 {
		tail = append(tail, fmt.Sprintf("after %d attempts", e.Attempts))
	}
	if e.Note != "" {
		tail = append(tail, e.Note)
	}
	if len(tail) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(tail, "; "))
	}
	return b.String()
}

// Unwrap returns the last attempt's error.
func (e *NetworkError) Unwrap() error { return e.Err }

// Reason names the run's failure: "Timeout" when the last attempt timed out, else ""
// (no more specific reason than the connector's).
func (e *NetworkError) Reason() string {
	var ne net.Error
	if errors.Is(e.Err, context.DeadlineExceeded) || (errors.As(e.Err, &ne) && ne.Timeout()) {
		return "Timeout"
	}
	return ""
}
