package engine

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"testing"

	. "github.com/onsi/gomega"
)

// valueLister lists the values of a slice after `after` (connector.FieldLister), failing
// after failAfter values when failAfter >= 0, and records the after it was asked for.
type valueLister struct {
	values    []string
	failAfter int
	after     string
}

func (l *valueLister) FieldValues(_ context.Context, _, after string) iter.Seq2[string, error] {
	l.after = after
	return func(yield func(string, error) bool) {
		for i, v := range l.values {
			if i == l.failAfter {
				yield("", errors.New("connection reset"))
				return
			}
			if v <= after {
				continue
			}
			if !yield(v, nil) {
				return
			}
		}
	}
}

// prefixingLister also puts the prefix before each value itself
// (connector.PrefixedFieldLister).
type prefixingLister struct {
	valueLister
	asked string // the prefix it was asked for
}

func (l *prefixingLister) PrefixedFieldValues(ctx context.Context, field, prefix, after string) iter.Seq2[string, error] {
	l.asked = prefix
	return func(yield func(string, error) bool) {
		for v, err := range l.FieldValues(ctx, field, after) {
			if !yield(prefix+v, err) {
				return
			}
		}
	}
}

// TestPrefixedKeys: the keys are prefix + value, in order, however many (more than one run
// of keys); an error comes after every key before it; a consumer that stops gets no more;
// after strips the prefix (and a key without it is an error); keys kept stay intact after
// the listing goes on.
func TestPrefixedKeys(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	var values []string
	for i := range 5000 {
		values = append(values, fmt.Sprintf("%09d", i))
	}
	want := make([]string, len(values))
	for i, v := range values {
		want[i] = "billing:" + v
	}
	collect := func(seq iter.Seq2[string, error]) ([]string, error) {
		var out []string
		for k, err := range seq {
			if err != nil {
				return out, err
			}
			out = append(out, k)
		}
		return out, nil
	}

	l := &valueLister{values: values, failAfter: -1}
	got, err := collect(PrefixedKeys(l, "id", "billing:").Keys(ctx, ""))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(Equal(want), "every key, intact after the listing went on")

	l = &valueLister{values: values, failAfter: 4321}
	got, err = collect(PrefixedKeys(l, "id", "billing:").Keys(ctx, ""))
	g.Expect(err).To(MatchError("connection reset"))
	g.Expect(got).To(Equal(want[:4321]), "the keys before the error")

	l = &valueLister{values: values, failAfter: -1}
	n := 0
	for range PrefixedKeys(l, "id", "billing:").Keys(ctx, "") {
		if n++; n == 10 {
			break
		}
	}
	g.Expect(n).To(Equal(10), "stops when asked")

	got, err = collect(PrefixedKeys(l, "id", "").Keys(ctx, ""))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(Equal(values), "no prefix")

	pl := &prefixingLister{valueLister: valueLister{values: values, failAfter: -1}}
	got, err = collect(PrefixedKeys(pl, "id", "billing:").Keys(ctx, "billing:000000007"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(pl.asked).To(Equal("billing:"), "a source that prefixes values itself does")
	g.Expect(pl.after).To(Equal("000000007"))
	g.Expect(got).To(Equal(want[8:]))

	_, err = collect(PrefixedKeys(l, "id", "billing:").Keys(ctx, "billing:000000007"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(l.after).To(Equal("000000007"))
	_, err = collect(PrefixedKeys(l, "id", "billing:").Keys(ctx, "crm:7"))
	g.Expect(err).To(MatchError(ContainSubstring(`does not start with "billing:"`)))
}
