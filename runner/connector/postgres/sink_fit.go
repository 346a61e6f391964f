package postgres

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// limits are what a column's type modifier would change in a value on assignment:
// PostgreSQL rounds numeric to its scale and timestamps to their precision, casts a time to
// a date, and cuts trailing spaces beyond a character length. The sink refuses such values
// instead (fitError).
type limits struct {
	scale    int  // numeric with a scale: the digits kept after the point (negative: zeros before it)
	hasScale bool // numeric(p,s)
	frac     int  // fractional digits of a second kept: timestamp(p), else 6 (microseconds)
	date     bool // date: no time of day
	maxLen   int  // varchar(n), char(n): n characters; 0 unbounded
	intBits  int  // smallint 16, integer 32, bigint 64; 0 not an integer column
	mantissa uint // real 24, double precision 53: bits an integer may span exactly; 0 not a float column
	fam      family
}

// limitsOf reads a column's limits from its type and modifier.
func limitsOf(c column) limits {
	l := limits{frac: 6, fam: familyOf(c)}
	switch c.oid {
	case oidNumeric:
		if c.typmod >= 4 { // VARHDRSZ + (precision << 16 | scale), the scale 11 bits signed
			l.scale = int((((c.typmod - 4) & 0x7ff) ^ 1024) - 1024)
			l.hasScale = true
		}
	case oidTimestamp, oidTimestamptz:
		if c.typmod >= 0 {
			l.frac = int(c.typmod)
		}
	case oidDate:
		l.date = true
	case oidVarchar, oidBPChar:
		if c.typmod >= 4 {
			l.maxLen = int(c.typmod - 4)
		}
	case oidInt2:
		l.intBits = 16
	case oidInt4:
		l.intBits = 32
	case oidInt8:
		l.intBits = 64
	case oidFloat4:
		l.mantissa = 24
	case oidFloat8:
		l.mantissa = 53
	}
	return l
}

// canHold reports whether a column can hold any value of a mapped type: the value checks
// (Sink.check) refuse every value of the type otherwise, or PostgreSQL would.
func canHold(c column, t connector.FieldType) bool {
	switch familyOf(c) {
	case famString:
		return true // every value has a text form
	case famInt, famFloat:
		return t == connector.TypeInt
	case famBool:
		return t == connector.TypeBool
	case famTime:
		return t == connector.TypeTimestamp
	case famJSON:
		return t == connector.TypeJSON
	}
	switch c.oid {
	case oidNumeric:
		return t == connector.TypeInt || t == connector.TypeDecimal || t == connector.TypeString
	case oidUUID:
		return t == connector.TypeString
	}
	return true // other types: PostgreSQL parses each value's text form
}

// article is "a" or "an" before a type name.
func article(t connector.FieldType) string {
	if t == connector.TypeInt {
		return "an"
	}
	return "a"
}

// fitError explains how the column would change val (of the Go type its family takes), or
// returns "" when the column stores it exactly.
func (l limits) fitError(val any, full string) string {
	switch x := val.(type) {
	case time.Time:
		if l.date {
			u := x.UTC()
			if u.Hour() != 0 || u.Minute() != 0 || u.Second() != 0 || u.Nanosecond() != 0 {
				return "time of day dropped by type " + full
			}
			return ""
		}
		if x.Nanosecond()%int(math.Pow10(9-l.frac)) != 0 {
			return fmt.Sprintf("more than %d fractional digits of a second for type %s", l.frac, full)
		}
		if l.fam != famTime {
			return l.textFit(textOf(val), full)
		}
		return ""
	case int64:
		if l.intBits > 0 && l.intBits < 64 && (x < -1<<(l.intBits-1) || x > 1<<(l.intBits-1)-1) {
			return "out of range for type " + full
		}
		if l.mantissa > 0 && !exactInt(x, l.mantissa) {
			return "not exact in type " + full
		}
	case float64:
		if l.mantissa == 24 && !math.IsNaN(x) && float64(float32(x)) != x {
			return "not exact in type " + full
		}
	}
	if l.fam == famText || l.fam == famString {
		return l.textFit(textOf(val), full)
	}
	return ""
}

// textFit checks a value's text form against a numeric scale or a character length.
func (l limits) textFit(s string, full string) string {
	if l.hasScale {
		if e, ok := decimalExponent(s); ok && e < -l.scale {
			if l.scale >= 0 {
				return fmt.Sprintf("more than %d decimal places for type %s", l.scale, full)
			}
			return fmt.Sprintf("not a multiple of %s for type %s", "1"+strings.Repeat("0", -l.scale), full)
		}
	}
	if l.maxLen > 0 && utf8.RuneCountInString(s) > l.maxLen {
		return "value too long for type " + full
	}
	return ""
}

func textOf(v any) string {
	s, _ := textForm(v)
	return s
}

// exactInt reports whether x is exactly a float with a mantissa of the given bits.
func exactInt(x int64, mantissa uint) bool {
	u := uint64(x)
	if x < 0 {
		u = -u
	}
	if u == 0 {
		return true
	}
	u >>= uint(bits.TrailingZeros64(u))
	return bits.Len64(u) <= int(mantissa)
}

// decimalExponent parses "[+-]digits[.digits][e[+-]digits]" and returns the exponent of its
// last significant digit (12.340 → -2, 1200 → 2, 0 → 0); ok is false for other text
// (PostgreSQL then refuses it itself, or it is NaN or Infinity).
func decimalExponent(s string) (int, bool) {
	s = strings.TrimLeft(s, "+-")
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil {
			return 0, false
		}
		mant, exp = s[:i], e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := intPart + frac
	if digits == "" {
		return 0, false
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return 0, false
		}
	}
	trimmed := strings.TrimRight(digits, "0")
	if trimmed == "" {
		return 0, true // zero
	}
	return exp - len(frac) + (len(digits) - len(trimmed)), true
}

// describeValue renders a refused value for a record error: text quoted, at most 64 bytes.
func describeValue(v any) string {
	switch x := v.(type) {
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case int64, float64, bool:
		return textOf(v)
	}
	s := textOf(v)
	if len(s) > 64 {
		cut := 64
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "…"
	}
	return strconv.Quote(s)
}
