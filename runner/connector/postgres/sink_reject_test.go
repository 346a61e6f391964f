package postgres

import (
	"context"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

func TestRejectedRecordsAreIsolated(t *testing.T) {
	for _, path := range sinkPaths {
		t.Run(path.name, func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			dsn := newDB(t, contactsTable)
			sink := newSink(t, dsn, path.threshold, DeleteIgnore, SinkOptions{})

			var batch []connector.WriteRecord
			for i := 0; i < 40; i++ {
				batch = append(batch, contact(fmt.Sprintf("k%02d", i), tN(1), fmt.Sprintf("e%d", i)))
			}
			batch[3].Values["name"] = "far too long for ten"         // varchar(10)
			batch[17].Values["score"] = int64(-1)                    // check constraint
			batch[18].Values["amount"] = connector.Decimal("12,5")   // not a number
			batch[30].Values["score"] = "seven"                      // wrong Go type
			batch[39].Values["amount"] = connector.Decimal("1e1000") // out of range

			res, err := sink.Upsert(ctx, batch)
			g.Expect(err).NotTo(HaveOccurred())
			failed := map[int]string{}
			for i, r := range res {
				if r.Outcome == connector.Failed {
					g.Expect(r.Err).To(HaveOccurred())
					failed[i] = r.Err.Error()
				} else {
					g.Expect(r.Outcome).To(Equal(connector.Written), "record %d", i)
				}
			}
			g.Expect(failed).To(HaveLen(5))
			g.Expect(failed[3]).To(And(HavePrefix("record src-k03"), ContainSubstring("value too long for type character varying(10)")))
			g.Expect(failed[17]).To(And(HavePrefix("record src-k17"), ContainSubstring("contacts_score_check")))
			g.Expect(failed[18]).To(ContainSubstring("invalid input syntax for type numeric"))
			g.Expect(failed[30]).To(And(ContainSubstring("field score"), ContainSubstring("value does not fit column type")))
			g.Expect(failed[39]).To(ContainSubstring("rejected by postgres"))
			var re *connector.RecordError
			g.Expect(res[3].Err).To(BeAssignableToTypeOf(re))

			rows := readRows(t, dsn)
			g.Expect(rows).To(HaveLen(35), "the rest of the batch is written")
			g.Expect(rows).NotTo(HaveKey("k03"))
			g.Expect(*rows["k04"].Email).To(Equal("e4"))
		})
	}
}

// TestConnectionLostFailsTheBatch kills the sink's session in the middle of a statement:
// nothing of the batch may be confirmed.
func TestConnectionLostFailsTheBatch(t *testing.T) {
	for _, path := range sinkPaths {
		t.Run(path.name, func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			dsn := newDB(t, contactsTable,
				`CREATE FUNCTION die() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN
					IF NEW.email = 'die' THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF;
					RETURN NEW;
				END $$`,
				`CREATE TRIGGER die BEFORE INSERT ON contacts FOR EACH ROW EXECUTE FUNCTION die()`)
			sink := newSink(t, dsn, path.threshold, DeleteIgnore, SinkOptions{})

			res, err := sink.Upsert(ctx, []connector.WriteRecord{contact("a", tN(1), "a"), contact("b", tN(1), "die")})
			g.Expect(err).To(HaveOccurred())
			g.Expect(res).To(BeNil())
			g.Expect(readRows(t, dsn)).To(BeEmpty(), "nothing committed")

			// The sink reconnects for the next batch.
			res, err = sink.Upsert(ctx, []connector.WriteRecord{contact("a", tN(1), "a")})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(outcomes(res)).To(Equal([]connector.Outcome{connector.Written}))
		})
	}
}
