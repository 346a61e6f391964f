package mapping

import (
	"math/big"
	"strconv"
	"strings"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// canonicalDecimal checks that s is a plain decimal numeral, [+-]?digits[.digits], and
// returns its canonical form: no '+', no leading zeros in the integer part, the fraction
// kept digit for digit (the scale is part of the value: "12.30" stays "12.30"), and no
// sign on zero. Exponents, spaces, "NaN" and "Inf" are refused. A canonical input is
// returned as is, without allocating.
func canonicalDecimal(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	body := s
	neg := false
	switch body[0] {
	case '+':
		body = body[1:]
	case '-':
		neg = true
		body = body[1:]
	}
	intPart, frac, hasDot := strings.Cut(body, ".")
	if intPart == "" || !allDigits(intPart) || (hasDot && (frac == "" || !allDigits(frac))) {
		return "", false
	}
	trimmed := strings.TrimLeft(intPart, "0")
	if trimmed == "" {
		trimmed = "0"
	}
	zero := trimmed == "0" && strings.Trim(frac, "0") == ""
	if zero {
		neg = false
	}
	canonical := (s[0] != '+') && trimmed == intPart && (neg == (s[0] == '-'))
	if canonical {
		return s, true
	}
	var b strings.Builder
	b.Grow(len(s))
	if neg {
		b.WriteByte('-')
	}
	b.WriteString(trimmed)
	if hasDot {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return b.String(), true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// decimalToInt64 converts a canonical decimal to int64 when it is integral ("12.00" is 12)
// and in range; anything else is refused.
func decimalToInt64(d string) (int64, bool) {
	intPart, frac, _ := strings.Cut(d, ".")
	if strings.Trim(frac, "0") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

// maxExactFloatInt is 2^53: every integer of at most this magnitude is a float64, and a
// float64 beyond it may already be the rounded image of a different integer.
const maxExactFloatInt = 1 << 53

// floatToInt64 accepts an integral float64 within ±2^53, the range in which the float is
// known to be the integer the source meant. Fractions, NaN, infinities and larger
// magnitudes are refused.
func floatToInt64(f float64) (int64, bool) {
	if f != f || f > maxExactFloatInt || f < -maxExactFloatInt {
		return 0, false
	}
	n := int64(f)
	if float64(n) != f {
		return 0, false
	}
	return n, true
}

// dec is an exact decimal for arithmetic in CEL expressions: unscaled × 10^-scale.
type dec struct {
	unscaled *big.Int
	scale    int
}

// parseDec parses a decimal numeral (see canonicalDecimal).
func parseDec(s string) (dec, bool) {
	c, ok := canonicalDecimal(s)
	if !ok {
		return dec{}, false
	}
	intPart, frac, _ := strings.Cut(c, ".")
	u, ok := new(big.Int).SetString(intPart+frac, 10)
	if !ok {
		return dec{}, false
	}
	return dec{unscaled: u, scale: len(frac)}, true
}

func decFromInt(n int64) dec { return dec{unscaled: big.NewInt(n), scale: 0} }

// String renders the canonical text form, keeping the scale.
func (d dec) String() string {
	digits := new(big.Int).Abs(d.unscaled).String()
	if d.scale > 0 {
		if pad := d.scale + 1 - len(digits); pad > 0 {
			digits = strings.Repeat("0", pad) + digits
		}
		digits = digits[:len(digits)-d.scale] + "." + digits[len(digits)-d.scale:]
	}
	if d.unscaled.Sign() < 0 {
		return "-" + digits
	}
	return digits
}

// Decimal returns d as a connector.Decimal.
func (d dec) Decimal() connector.Decimal { return connector.Decimal(d.String()) }

var bigTen = big.NewInt(10)

// rescaled returns the unscaled value of d at a scale of at least d.scale.
func (d dec) rescaled(scale int) *big.Int {
	if scale == d.scale {
		return d.unscaled
	}
	f := new(big.Int).Exp(bigTen, big.NewInt(int64(scale-d.scale)), nil)
	return f.Mul(f, d.unscaled)
}

func (d dec) add(o dec) dec {
	s := max(d.scale, o.scale)
	return dec{unscaled: new(big.Int).Add(d.rescaled(s), o.rescaled(s)), scale: s}
}

func (d dec) sub(o dec) dec {
	s := max(d.scale, o.scale)
	return dec{unscaled: new(big.Int).Sub(d.rescaled(s), o.rescaled(s)), scale: s}
}

func (d dec) mul(o dec) dec {
	return dec{unscaled: new(big.Int).Mul(d.unscaled, o.unscaled), scale: d.scale + o.scale}
}

func (d dec) neg() dec { return dec{unscaled: new(big.Int).Neg(d.unscaled), scale: d.scale} }

func (d dec) cmp(o dec) int {
	s := max(d.scale, o.scale)
	return d.rescaled(s).Cmp(o.rescaled(s))
}

// int64 returns d as an int64 when it is integral and in range.
func (d dec) int64() (int64, bool) {
	q, r := new(big.Int).QuoRem(d.unscaled, new(big.Int).Exp(bigTen, big.NewInt(int64(d.scale)), nil), new(big.Int))
	if r.Sign() != 0 || !q.IsInt64() {
		return 0, false
	}
	return q.Int64(), true
}
