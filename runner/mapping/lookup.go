package mapping

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// Reasons of lookup record errors.
const (
	// ReasonLookupNotFound: the lookup found no object for the value.
	ReasonLookupNotFound = "lookup target not found"
	// ReasonLookupFailed: the lookup could not answer (the API failed after its retries,
	// several objects matched, the answer was unusable).
	ReasonLookupFailed = "lookup failed"
)

// LookupChecker is an optional capability of a connector.Resolver: refuse a lookup it can
// never resolve (for example one on another host than the sink's) when the mapping is
// built, rather than failing every record.
type LookupChecker interface {
	CheckLookup(connector.Lookup) error
}

// checkLookup validates an entry's lookup at New.
func checkLookup(fm Field, r connector.Resolver) error {
	if r == nil {
		return errors.New("lookup needs a resolver: lookups are resolved through an HTTP sink")
	}
	if fm.Type == connector.TypeJSON {
		return errors.New("a lookup value must be a scalar, not json")
	}
	if !strings.Contains(fm.Lookup.URL, "{value}") {
		return errors.New(`lookup.url must hold "{value}"`)
	}
	if c, ok := r.(LookupChecker); ok {
		if err := c.CheckLookup(*fm.Lookup); err != nil {
			return err
		}
	}
	return nil
}

// lookupText renders a converted value as the text looked up.
func lookupText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case connector.Decimal:
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}

// resolve replaces the converted values of lookup entries by their targets' ids. A null
// value stays null; a value without a target, or a failed lookup, is a record error
// naming the lookup.
func (m *Mapping) resolve(ctx context.Context, rec connector.Record, values map[string]any) error {
	for _, i := range m.lookups {
		f := &m.fields[i]
		v := values[f.to]
		if v == nil {
			continue
		}
		text := lookupText(v)
		shown := strings.ReplaceAll(f.lookup.URL, "{value}", text)
		id, found, err := m.resolver.Resolve(ctx, *f.lookup, text)
		switch {
		case err != nil:
			return m.recordErr(rec, f.to, ReasonLookupFailed, fmt.Sprintf("lookup %s: %v", shown, err))
		case !found:
			return m.recordErr(rec, f.to, ReasonLookupNotFound, fmt.Sprintf("lookup %s found nothing", shown))
		}
		values[f.to] = id
	}
	return nil
}
