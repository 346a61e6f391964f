package postgres

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/test/pgtest"
)

// server is the PostgreSQL server shared by the package's tests; each test has its own
// database. Its time zone is far from UTC so that nothing depends on the session zone.
var server *pgtest.Server

func TestMain(m *testing.M) {
	s, err := pgtest.Start(context.Background(), pgtest.Options{
		Settings: map[string]string{"TimeZone": "Asia/Kathmandu"},
		HBA:      []string{"host all alice 127.0.0.1/32 scram-sha-256"},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	server = s
	code := m.Run()
	if err := s.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

var dbSeq atomic.Int64

// newDB creates a fresh database, runs the setup statements in it and returns its DSN.
func newDB(t *testing.T, setup ...string) string {
	t.Helper()
	if server == nil {
		t.Fatal("server not started")
	}
	name := fmt.Sprintf("t%d_%s", dbSeq.Add(1), strings.ToLower(strings.NewReplacer("/", "_", " ", "_", "-", "_").Replace(t.Name())))
	if len(name) > 60 {
		name = name[:60]
	}
	ctx := context.Background()
	if err := server.CreateDB(ctx, name); err != nil {
		t.Fatal(err)
	}
	dsn := server.DSN(name)
	exec(t, dsn, setup...)
	return dsn
}

// exec runs statements in the database.
func exec(t *testing.T, dsn string, stmts ...string) {
	t.Helper()
	if len(stmts) == 0 {
		return
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	defer conn.Close(ctx)
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}
