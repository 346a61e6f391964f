package runstatus

import "regexp"

// redactions replace credential-shaped text: URL user info, key=value secrets and bearer
// tokens. They are a last line of defence; connectors keep credentials out of errors.
var redactions = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@`), "${1}REDACTED@"},
	{regexp.MustCompile(`(?i)\b(password|passwd|pwd|token|secret|api[_-]?key|apikey)("?\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&]+)`), "${1}${2}REDACTED"},
	{regexp.MustCompile(`(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}`), "${1} REDACTED"},
}

// Redact removes credential-shaped text from a message bound for status or an Event.
func Redact(msg string) string {
	for _, r := range redactions {
		msg = r.re.ReplaceAllString(msg, r.with)
	}
	return msg
}
