package explain

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// Render prints the verdict line, the evidence and the next action.
func Render(w io.Writer, ev Evidence, res Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n", res.Verdict, res.Line)
	b.WriteString("evidence:\n")
	fmt.Fprintf(&b, "  source:     %s\n", sourceText(ev))
	fmt.Fprintf(&b, "  checkpoint: %s\n", checkpointText(ev))
	fmt.Fprintf(&b, "  record log: %s\n", logText(ev))
	fmt.Fprintf(&b, "  sink:       %s\n", sinkText(ev))
	b.WriteString("next:\n")
	for _, n := range res.Next {
		fmt.Fprintf(&b, "  %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func sourceText(ev Evidence) string {
	s := ev.Source
	switch {
	case !s.Checked:
		return "not asked: " + s.Err
	case !s.Found:
		return "no record with id " + ev.ID
	}
	t := fmt.Sprintf("has %s, updatedAt %s", ev.ID, s.UpdatedAt.UTC().Format(rfc))
	if s.Deleted {
		t += ", marked deleted"
	}
	if s.MapError != nil {
		return t + fmt.Sprintf("; mapping it now fails: %s%s: %s", fieldOf(s.MapError.Field), s.MapError.Reason, s.MapError.Detail)
	}
	return t + fmt.Sprintf("; maps to key %s: %s", s.Key, valuesText(s.Values))
}

func checkpointText(ev Evidence) string {
	cp := ev.Checkpoint
	if cp.Cursor == nil {
		return "no cursor stored (the next run starts at the beginning or spec.startAt)"
	}
	t := fmt.Sprintf("cursor %s, safety gap %s", cp.Cursor, cp.SafetyGap)
	if ev.Source.Found {
		switch {
		case !cp.Passed:
			t += "; it has not reached the record"
		case !cp.Rewound:
			t += fmt.Sprintf("; %s past the record, within the safety gap", cp.Lead)
		default:
			t += fmt.Sprintf("; %s past the record, more than the safety gap", cp.Lead)
		}
	}
	if cp.CoveredBy != nil {
		r := cp.CoveredBy
		start := "beginning"
		if r.CursorStart != nil {
			start = r.CursorStart.String()
		}
		t += fmt.Sprintf("; run %s (%s, %s) read (%s, %s]", r.RunID, r.Trigger, r.Phase, start, r.CursorEnd)
	}
	if cp.FailedKey {
		t += "; on the failedKeys retry list"
	} else {
		t += "; not on the failedKeys retry list"
	}
	return t
}

func logText(ev Evidence) string {
	l := ev.Log
	if l.Err != "" {
		return "not readable: " + l.Err
	}
	var parts []string
	if f := l.Failure; f != nil {
		parts = append(parts, fmt.Sprintf("failed in run %s at %s: %s%s", f.RunID, f.Time.UTC().Format(rfc), fieldOf(f.Field), f.Reason)+detail(f.Detail))
	}
	if s := l.Stale; s != nil {
		parts = append(parts, fmt.Sprintf("skipped as stale in run %s at %s (key %s)", s.RunID, s.Time.UTC().Format(rfc), s.Key))
	}
	if d := l.Deleted; d != nil {
		parts = append(parts, fmt.Sprintf("written as deleted in run %s at %s (key %s)", d.RunID, d.Time.UTC().Format(rfc), d.Key))
	}
	if len(parts) == 0 {
		parts = append(parts, "nothing recorded for "+ev.ID)
	}
	if l.Dropped > 0 {
		parts = append(parts, fmt.Sprintf("%d older entries were dropped to keep the log bounded", l.Dropped))
	}
	return strings.Join(parts, "; ")
}

func detail(d string) string {
	if d == "" {
		return ""
	}
	return " (" + d + ")"
}

func sinkText(ev Evidence) string {
	s := ev.Sink
	switch {
	case !s.Checked:
		return "not asked: " + s.Err
	case s.Key == "":
		return "not asked: no key"
	case !s.Found:
		return "no record with key " + s.Key
	}
	t := fmt.Sprintf("has key %s", s.Key)
	if s.SourceUpdatedAt.IsZero() {
		t += " without a source_updated_at"
	} else {
		t += " at source_updated_at " + s.SourceUpdatedAt.UTC().Format(rfc)
	}
	if len(s.Diffs) == 0 {
		if ev.Source.Found && ev.Source.MapError == nil {
			t += "; every mapped field equal"
		}
		return t
	}
	var d []string
	for _, f := range s.Diffs {
		d = append(d, fmt.Sprintf("%s: source %s, sink %s", f.Field, show(f.Want), show(f.Have)))
	}
	return t + "; differs in " + strings.Join(d, "; ")
}

func valuesText(v map[string]any) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(v)) {
		parts = append(parts, k+"="+show(v[k]))
	}
	return strings.Join(parts, " ")
}

func show(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case time.Time:
		return x.UTC().Format(rfc)
	case string:
		return fmt.Sprintf("%q", x)
	case connector.JSON:
		return string(x)
	}
	return fmt.Sprintf("%v", v)
}
