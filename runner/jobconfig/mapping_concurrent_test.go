package jobconfig

import (
	"context"
	"net"
	"testing"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// TestMappingErrorComesFirstAndStopsConnecting: the mapping compiles while the connectors
// connect; a mapping that does not compile is the error, as it would be had it compiled
// first, and it stops the connecting rather than waiting for the connect timeout (the
// server here accepts connections and never answers).
func TestMappingErrorComesFirstAndStopsConnecting(t *testing.T) {
	g := NewWithT(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	dsn := "postgres://postgres@" + ln.Addr().String() + "/db?sslmode=disable"

	sj := postgresJob()
	sj.Spec.Source.Postgres.DSN = syncv1.SecretKeyRef{Name: "billing-db", Key: "dsn"}
	sj.Spec.Sink.Postgres.DSN = syncv1.SecretKeyRef{Name: "crm-db", Key: "dsn"}
	sj.Spec.Key.Field = "ext_id"
	sj.Spec.Mapping = []syncv1.FieldMapping{{To: "email", From: "email"}, {To: "vip", Expr: "record.tier ==", Type: "bool"}}
	sj.Default()
	t.Setenv("BILLING_DB_DSN", dsn)
	t.Setenv("CRM_DB_DSN", dsn)
	done := make(chan error, 1)
	go func() {
		_, _, err := Build(context.Background(), logr.Discard(), sj, "run-1", "Manual")
		done <- err
	}()
	g.Eventually(done).Should(Receive(MatchError(HavePrefix("spec.mapping: mapping[1] (to: vip)"))))
}
