package postgres

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// checkHosts refuses a DSN whose own host setting (host= in keyword/value form; the netloc
// list or ?host= of a URI) is empty or has an empty element: pgconn, like libpq, puts its
// default there (a unix socket directory or localhost) and the connection would go to
// whatever listens on it. A host that holds "=" is a "host=" followed by a space, which
// made the next setting the host; it is refused without echoing it (it may be the
// password). A DSN without a host setting is left to parseDSN's "has no host".
func checkHosts(dsn string) error {
	raw, ok := dsnHost(dsn)
	if !ok {
		return nil
	}
	const why = " (nothing falls back to libpq's default host, a unix socket or PG* environment variables)"
	hosts := strings.Split(raw, ",")
	for i, h := range hosts {
		switch {
		case strings.TrimSpace(h) == "" && len(hosts) == 1:
			return errors.New("the DSN's host is empty" + why)
		case strings.TrimSpace(h) == "":
			return fmt.Errorf("the DSN's host is empty: host list element %d of %d is empty"+why, i+1, len(hosts))
		case strings.Contains(h, "="):
			return errors.New(`the DSN's host is empty: "host=" is followed by a space, so the next setting was read as the host` + why)
		}
	}
	return nil
}

// dsnHost returns the host setting the DSN itself makes, as pgconn reads it, and whether
// it makes one.
func dsnHost(dsn string) (string, bool) {
	for _, prefix := range []string{"postgres://", "postgresql://"} {
		if rest, ok := strings.CutPrefix(dsn, prefix); ok {
			return uriHost(rest)
		}
	}
	return keywordValueHost(dsn)
}

// uriHost reads the host list of a URI after its scheme: the netloc's hosts (the user info
// ends at an '@' before any '/'; each element ends at ':', and the list at '/' or '?'), and
// a ?host= parameter, which overrides it (the last one wins).
func uriHost(rest string) (string, bool) {
	if i := strings.IndexAny(rest, "@/"); i >= 0 && rest[i] == '@' {
		rest = rest[i+1:]
	}
	netloc, query := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		netloc = rest[:i]
		if j := strings.IndexByte(rest, '?'); j >= 0 {
			query = rest[j+1:]
		}
	}
	host, ok := "", false
	if netloc != "" {
		var hosts []string
		for _, el := range strings.Split(netloc, ",") {
			if strings.HasPrefix(el, "[") {
				if end := strings.IndexByte(el, ']'); end > 0 {
					hosts = append(hosts, el[1:end])
					continue
				}
			}
			h, _, _ := strings.Cut(el, ":")
			hosts = append(hosts, h)
		}
		if joined := strings.Join(hosts, ","); joined != "" { // as pgconn: a netloc of only a port sets none
			host, ok = joined, true
		}
	}
	for _, pair := range strings.Split(query, "&") {
		k, v, found := strings.Cut(pair, "=")
		if !found {
			continue
		}
		if key, err := url.PathUnescape(k); err != nil || key != "host" {
			continue
		}
		if val, err := url.PathUnescape(v); err == nil {
			host, ok = val, true
		}
	}
	if ok {
		if h, err := url.PathUnescape(host); err == nil {
			host = h
		}
	}
	return host, ok
}

// keywordValueHost reads the last host= of a keyword/value DSN, with libpq's rules: spaces
// around '=' are skipped, a value is quoted ('...', backslash escapes) or runs to the next
// space (backslash escapes). A DSN that does not parse reports no host (parseDSN reports
// the parse error).
func keywordValueHost(s string) (string, bool) {
	const spaces = " \t\n\r\v\f"
	host, found := "", false
	s = strings.TrimLeft(s, spaces)
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return host, found
		}
		key := strings.Trim(s[:eq], spaces)
		s = strings.TrimLeft(s[eq+1:], spaces)
		var val strings.Builder
		if strings.HasPrefix(s, "'") {
			s = s[1:]
			i := 0
			for ; i < len(s) && s[i] != '\''; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				val.WriteByte(s[i])
			}
			if i >= len(s) {
				return host, found // unterminated: parseDSN reports it
			}
			s = s[i+1:]
		} else {
			i := 0
			for ; i < len(s) && !strings.ContainsRune(spaces, rune(s[i])); i++ {
				if s[i] == '\\' {
					i++
					if i == len(s) {
						break
					}
				}
				val.WriteByte(s[i])
			}
			s = s[min(i, len(s)):]
		}
		s = strings.TrimLeft(s, spaces)
		if key == "host" {
			host, found = val.String(), true
		}
	}
	return host, found
}
