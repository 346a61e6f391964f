// Package speccheck holds the checks of a SyncJob spec that admission's schema and CEL
// rules cannot express and that would otherwise fail only at the first run: every CEL
// expression compiles as the runner compiles it, every URL and URL template is an absolute
// http(s) URL holding the placeholders its use needs, startAt is a real time, and
// requestsPerSecond is positive. It is pure, imported by the controller (which marks a
// SyncJob that fails them Stalled with reason InvalidSpec) and testable without a cluster.
package speccheck

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// Check returns every mistake in sj's spec, each naming its field, joined; nil when none.
// sj is defaulted (the apiserver's defaults).
func Check(sj *syncv1.SyncJob) error {
	s := &sj.Spec
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if s.Key.Expr != "" {
		if err := CompileExpr(s.Key.Expr); err != nil {
			bad("spec.key.expr %q does not compile: %v", s.Key.Expr, oneLine(err))
		}
	}
	seen := map[string]int{}
	for i, m := range s.Mapping {
		if m.Expr != "" {
			if err := CompileExpr(m.Expr); err != nil {
				bad("spec.mapping[%d].expr (to %q) %q does not compile: %v", i, m.To, m.Expr, oneLine(err))
			}
		}
		if j, dup := seen[m.To]; dup {
			bad("spec.mapping[%d].to %q is also the target of spec.mapping[%d]: targets must be unique", i, m.To, j)
		} else {
			seen[m.To] = i
		}
		if m.Lookup != nil {
			errs = append(errs, checkURL(fmt.Sprintf("spec.mapping[%d].lookup.url", i), m.Lookup.URL, "{value}"))
		}
	}
	if h := s.Source.HTTP; h != nil {
		errs = append(errs, checkURL("spec.source.http.url", h.URL))
		if h.GetByIDURL != "" {
			errs = append(errs, checkURL("spec.source.http.getByIdUrl", h.GetByIDURL, "{id}"))
		}
		if h.GetByIDsURL != "" {
			errs = append(errs, checkURL("spec.source.http.getByIdsUrl", h.GetByIDsURL, "{ids}"))
		}
	}
	if h := s.Sink.HTTP; h != nil {
		switch h.Mode {
		case "Upsert":
			errs = append(errs, checkURL("spec.sink.http.url", h.URL, "{key}"))
		default:
			errs = append(errs, checkURL("spec.sink.http.url", h.URL))
		}
		if h.Mode == "LookupThenWrite" || h.SearchURL != "" {
			errs = append(errs, checkURL("spec.sink.http.searchUrl", h.SearchURL, "{key}"))
		}
		if h.UpdateURL != "" {
			errs = append(errs, checkURL("spec.sink.http.updateUrl", h.UpdateURL, "{id}"))
		}
		if h.CountURL != "" {
			errs = append(errs, checkURL("spec.sink.http.countUrl", h.CountURL, "{from}", "{to}"))
		}
	}
	if at := s.Cursor.StartAt; at != "" {
		if _, err := time.Parse(time.RFC3339Nano, at); err != nil {
			bad("spec.cursor.startAt %q is not a valid RFC3339 time (such as 2026-01-01T00:00:00Z): %v", at, err)
		}
	}
	if rl := s.RateLimit; rl != nil && rl.RequestsPerSecond.Sign() <= 0 {
		bad("spec.rateLimit.requestsPerSecond %q must be positive (such as \"50\" or \"0.5\")", rl.RequestsPerSecond.String())
	}
	return errors.Join(errs...)
}

// checkURL checks that raw, with its placeholders filled in, is an absolute http or https
// URL with a host, and that it holds every placeholder in need.
func checkURL(field, raw string, need ...string) error {
	if raw == "" {
		return fmt.Errorf("%s is required", field)
	}
	filled := raw
	for _, p := range []string{"{key}", "{id}", "{ids}", "{value}", "{from}", "{to}"} {
		filled = strings.ReplaceAll(filled, p, "x")
	}
	u, err := url.Parse(filled)
	switch {
	case err != nil:
		return fmt.Errorf("%s %q is not a valid URL: %v", field, raw, errors.Unwrap(err))
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%s %q must be an absolute http:// or https:// URL", field, raw)
	case u.Host == "":
		return fmt.Errorf("%s %q has no host", field, raw)
	}
	var missing []string
	for _, p := range need {
		if !strings.Contains(raw, p) {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s %q must hold %s", field, raw, strings.Join(missing, " and "))
	}
	return nil
}

// oneLine keeps the first line of a CEL error (the source excerpt and caret follow).
func oneLine(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return strings.TrimPrefix(msg, "ERROR: ")
}
