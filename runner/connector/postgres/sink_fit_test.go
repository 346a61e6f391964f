package postgres

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// fitsTable has a column for every way PostgreSQL would change a value on assignment:
// rounding to a scale, dropping fractional seconds or a time of day, cutting trailing
// spaces, and integer or float widths.
const fitsTable = `CREATE TABLE fits (
	ext_id text NOT NULL UNIQUE,
	source_updated_at timestamptz NOT NULL,
	amount numeric(12,2),
	hundreds numeric(6,-2),
	anynum numeric,
	ts0 timestamp(0),
	tz3 timestamptz(3),
	tz timestamptz,
	day date,
	code varchar(5),
	fixed char(3),
	small smallint,
	medium integer,
	big bigint,
	ratio real,
	dbl double precision)`

var fitsTypes = map[string]connector.FieldType{
	"amount": connector.TypeDecimal, "hundreds": connector.TypeInt, "anynum": connector.TypeString, "ts0": connector.TypeTimestamp, "tz3": connector.TypeTimestamp,
	"tz": connector.TypeTimestamp, "day": connector.TypeTimestamp, "code": connector.TypeString, "fixed": connector.TypeString, "small": connector.TypeInt,
	"medium": connector.TypeInt, "big": connector.TypeInt, "ratio": connector.TypeInt, "dbl": connector.TypeInt,
}

func fitsConfig(threshold int) SinkConfig {
	fields := make([]string, 0, len(fitsTypes))
	for f := range fitsTypes {
		fields = append(fields, f)
	}
	return SinkConfig{
		Table: "fits", KeyColumn: "ext_id", Fields: fields, FieldTypes: fitsTypes,
		SourceUpdatedAtColumn: "source_updated_at", CopyThreshold: threshold, DeleteMode: DeleteIgnore,
	}
}

// TestValuesTheColumnWouldChangeAreRecordErrors: a value the column would round or cut is
// a record error naming id, field, value and column type, and its row is not written; a
// value that fits exactly is written unchanged; the other records of the batch are written.
func TestValuesTheColumnWouldChangeAreRecordErrors(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	changed := []struct {
		name, field string
		value       any
		want        string // in the record error, after the field
	}{
		{"numeric scale", "amount", connector.Decimal("12.345"), `"12.345": more than 2 decimal places for type numeric(12,2)`},
		{"numeric scale, exponent", "amount", connector.Decimal("1.2345e1"), `numeric(12,2)`},
		{"numeric negative scale", "hundreds", int64(1234), `1234: not a multiple of 100 for type numeric(6,-2)`},
		{"numeric scale from a string", "amount", "1.005", `"1.005": more than 2 decimal places for type numeric(12,2)`},
		{"timestamp(0) fractional seconds", "ts0", time.Date(2026, 12, 31, 23, 59, 59, 999_000_000, time.UTC), `2026-12-31T23:59:59.999Z: more than 0 fractional digits of a second for type timestamp(0) without time zone`},
		{"timestamptz(3) fractional seconds", "tz3", at.Add(123_400 * time.Microsecond), `2026-01-02T03:04:05.1234Z: more than 3 fractional digits of a second for type timestamp(3) with time zone`},
		{"timestamptz below a microsecond", "tz", at.Add(1), `more than 6 fractional digits of a second for type timestamp with time zone`},
		{"date with a time of day", "day", time.Date(2026, 3, 29, 10, 0, 0, 0, time.UTC), `2026-03-29T10:00:00Z: time of day dropped by type date`},
		{"varchar too long", "code", "abcdef", `"abcdef": value too long for type character varying(5)`},
		{"varchar trailing spaces cut", "code", "abc   ", `character varying(5)`},
		{"char trailing spaces cut", "fixed", "ab  ", `"ab  ": value too long for type character(3)`},
		{"smallint overflow", "small", int64(40000), `40000: out of range for type smallint`},
		{"integer overflow", "medium", int64(1) << 40, `out of range for type integer`},
		{"real loses digits", "ratio", int64(16777217), `16777217: not exact in type real`},
		{"double loses digits", "dbl", int64(1)<<53 + 1, `9007199254740993: not exact in type double precision`},
	}
	fits := []struct {
		name, field string
		value       any
		sql, want   string // SQL over the row, its text
	}{
		{"numeric at scale", "amount", connector.Decimal("-9999999999.99"), "amount::text", "-9999999999.99"},
		{"numeric below scale", "amount", connector.Decimal("12.3"), "amount::text", "12.30"},
		{"numeric integer", "amount", int64(7), "amount::text", "7.00"},
		{"numeric trailing zeros", "amount", connector.Decimal("0.500"), "amount::text", "0.50"},
		{"numeric negative scale", "hundreds", int64(123400), "hundreds::text", "123400"},
		{"numeric unconstrained", "anynum", "123456789.123456789", "anynum::text", "123456789.123456789"},
		{"timestamp(0) whole seconds", "ts0", time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC), "ts0::text", "2026-12-31 23:59:59"},
		{"timestamptz(3) milliseconds", "tz3", at.Add(123 * time.Millisecond), "tz3::text", "2026-01-02 03:04:05.123+00"},
		{"timestamptz microseconds", "tz", at.Add(123456 * time.Microsecond), "tz::text", "2026-01-02 03:04:05.123456+00"},
		{"date at midnight", "day", time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC), "day::text", "2026-03-29"},
		{"varchar full, multibyte", "code", "héllo", "code", "héllo"},
		{"char full", "fixed", "abc", "fixed::text", "abc"},
		{"smallint max", "small", int64(math.MaxInt16), "small::text", "32767"},
		{"integer min", "medium", int64(math.MinInt32), "medium::text", "-2147483648"},
		{"bigint max", "big", int64(math.MaxInt64), "big::text", "9223372036854775807"},
		{"real exact", "ratio", int64(16777216), "(ratio = 16777216)::text", "true"},
		{"double exact", "dbl", int64(1) << 53, "(dbl = 9007199254740992)::text", "true"},
	}
	for _, path := range sinkPaths {
		t.Run(path.name, func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			dsn := newDB(t, fitsTable)
			sink, err := NewSink(ctx, fitsConfig(path.threshold), dsn, SinkOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			defer sink.Close()

			var batch []connector.WriteRecord
			for i, c := range changed {
				batch = append(batch, connector.WriteRecord{Key: fmt.Sprintf("c%02d", i), SourceID: fmt.Sprintf("src-c%02d", i), SourceUpdatedAt: at, Values: map[string]any{c.field: c.value}})
			}
			for i, f := range fits {
				batch = append(batch, connector.WriteRecord{Key: fmt.Sprintf("f%02d", i), SourceID: fmt.Sprintf("src-f%02d", i), SourceUpdatedAt: at, Values: map[string]any{f.field: f.value}})
			}
			res, err := sink.Upsert(ctx, batch)
			g.Expect(err).NotTo(HaveOccurred())

			conn, err := pgx.Connect(ctx, dsn)
			g.Expect(err).NotTo(HaveOccurred())
			defer conn.Close(ctx)
			_, err = conn.Exec(ctx, "SET TimeZone = 'UTC'")
			g.Expect(err).NotTo(HaveOccurred())
			for i, c := range changed {
				r, key := res[i], fmt.Sprintf("c%02d", i)
				var n int
				g.Expect(conn.QueryRow(ctx, "SELECT count(*) FROM fits WHERE ext_id = $1", key).Scan(&n)).To(Succeed())
				g.Expect(r.Outcome).To(Equal(connector.Failed), c.name)
				var re *connector.RecordError
				g.Expect(r.Err).To(BeAssignableToTypeOf(re), c.name)
				re = r.Err.(*connector.RecordError)
				g.Expect(re.ID).To(Equal("src-"+key), c.name)
				g.Expect(re.Field).To(Equal(c.field), c.name)
				g.Expect(r.Err.Error()).To(And(HavePrefix(fmt.Sprintf("record src-%s field %s: value would be changed by the column: ", key, c.field)), ContainSubstring(c.want)), c.name)
				g.Expect(n).To(BeZero(), "%s: the row is not written", c.name)
			}
			for i, f := range fits {
				r, key := res[len(changed)+i], fmt.Sprintf("f%02d", i)
				g.Expect(r.Outcome).To(Equal(connector.Written), "%s: %v", f.name, r.Err)
				var got string
				g.Expect(conn.QueryRow(ctx, fmt.Sprintf("SELECT %s FROM fits WHERE ext_id = $1", f.sql), key).Scan(&got)).To(Succeed(), f.name)
				g.Expect(got).To(Equal(f.want), f.name)
			}
		})
	}
}

// TestColumnThatCanNeverHoldTheMappedType: a mapping type the column can hold no value of
// is a setup error naming the field, its type and the column type.
func TestColumnThatCanNeverHoldTheMappedType(t *testing.T) {
	dsn := newDB(t, fitsTable)
	tests := []struct {
		field string
		typ   connector.FieldType
		want  string
	}{
		{"medium", connector.TypeTimestamp, `field "medium" is mapped as timestamp, but column "medium" of table "fits" is integer, which can never hold a timestamp`},
		{"amount", connector.TypeJSON, `field "amount" is mapped as json, but column "amount" of table "fits" is numeric(12,2), which can never hold a json`},
		{"amount", connector.TypeBool, `numeric(12,2), which can never hold a bool`},
		{"day", connector.TypeString, `column "day" of table "fits" is date, which can never hold a string`},
		{"code", connector.TypeJSON, ""}, // any value has a text form
		{"ratio", connector.TypeDecimal, `column "ratio" of table "fits" is real, which can never hold a decimal`},
		{"small", connector.TypeDecimal, `smallint, which can never hold a decimal`},
		{"anynum", connector.TypeInt, ""},
	}
	for _, tt := range tests {
		t.Run(tt.field+" as "+string(tt.typ), func(t *testing.T) {
			g := NewWithT(t)
			cfg := SinkConfig{
				Table: "fits", KeyColumn: "ext_id", Fields: []string{tt.field}, FieldTypes: map[string]connector.FieldType{tt.field: tt.typ},
				SourceUpdatedAtColumn: "source_updated_at", CopyThreshold: 1, DeleteMode: DeleteIgnore,
			}
			sink, err := NewSink(context.Background(), cfg, dsn, SinkOptions{})
			if tt.want == "" {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(sink.Close()).To(Succeed())
				return
			}
			g.Expect(err).To(MatchError(ContainSubstring(tt.want)))
		})
	}

	g := NewWithT(t)
	cfg := fitsConfig(1)
	cfg.FieldTypes = map[string]connector.FieldType{"amount": "money"}
	g.Expect(cfg.Validate()).To(MatchError(ContainSubstring(`field "amount": type "money"`)))
}
