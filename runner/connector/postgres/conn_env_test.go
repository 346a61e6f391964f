package postgres

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/test/pgtest"
)

// pgEnv points every PG* variable libpq reads at the test server's database db, as a
// stray environment would.
func pgEnv(t *testing.T, db string) {
	t.Setenv("PGHOST", server.Host())
	t.Setenv("PGPORT", strconv.Itoa(server.Port()))
	t.Setenv("PGUSER", pgtest.Superuser)
	t.Setenv("PGDATABASE", db)
	t.Setenv("PGPASSWORD", "from-the-environment")
	t.Setenv("PGSSLMODE", "disable")
	t.Setenv("PGAPPNAME", "from-the-environment")
}

// TestDSNSetupIgnoresTheEnvironment: the connectors take host, dbname and user from the
// DSN alone. With PG* variables naming a real database, an empty DSN or one missing a
// part is a setup error naming the part, and nothing is written to the database the
// environment names.
func TestDSNSetupIgnoresTheEnvironment(t *testing.T) {
	dsn := newDB(t, `CREATE TABLE crm (id text PRIMARY KEY, name text, source_updated_at timestamptz NOT NULL)`)
	cfgDB, err := pgx.ParseConfig(dsn)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	db := cfgDB.Database
	pgEnv(t, db)
	port := server.Port()
	for _, tc := range []struct {
		name, dsn, want string
	}{
		{"empty", "", "the DSN has no host"},
		{"blank", "   ", "the DSN has no host"},
		{"URL without a host", fmt.Sprintf("postgres:///%s?user=postgres&port=%d", db, port), "the DSN has no host"},
		{"key/value without a host", fmt.Sprintf("port=%d user=postgres dbname=%s", port, db), "the DSN has no host"},
		{"URL without a database", fmt.Sprintf("postgres://postgres@127.0.0.1:%d", port), "the DSN has no dbname"},
		{"URL with an empty path", fmt.Sprintf("postgres://postgres@127.0.0.1:%d/", port), "the DSN has no dbname"},
		{"key/value without a database", fmt.Sprintf("host=127.0.0.1 port=%d user=postgres", port), "the DSN has no dbname"},
		{"key/value with an empty database", fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=''", port), "dbname is empty"},
		{"URL without a user", fmt.Sprintf("postgres://127.0.0.1:%d/%s", port, db), "the DSN has no user"},
		{"key/value with an empty user", fmt.Sprintf("host=127.0.0.1 port=%d user='' dbname=%s", port, db), "the DSN has no user"},
		{"a service", fmt.Sprintf("service=billing host=127.0.0.1 user=postgres dbname=%s", db), "service is not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			sink, err := NewSink(context.Background(), SinkConfig{Table: "crm", KeyColumn: "id", Fields: []string{"name"},
				SourceUpdatedAtColumn: "source_updated_at", CopyThreshold: 1000, DeleteMode: DeleteIgnore}, tc.dsn, SinkOptions{})
			if sink != nil {
				sink.Close()
			}
			g.Expect(err).To(MatchError(ContainSubstring(tc.want)))
			g.Expect(err.Error()).NotTo(ContainSubstring("from-the-environment"))
		})
	}

	t.Run("PGSERVICE is refused", func(t *testing.T) {
		g := NewWithT(t)
		t.Setenv("PGSERVICE", "billing")
		_, err := parseDSN(dsn)
		g.Expect(err).To(MatchError(ContainSubstring("PGSERVICE")))
	})

	t.Run("a complete DSN takes nothing from the environment", func(t *testing.T) {
		g := NewWithT(t)
		for _, d := range []string{dsn, fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=%s sslmode=disable", port, db)} {
			cfg, err := parseDSN(d)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(cfg.ConnConfig.Password).To(BeEmpty(), "PGPASSWORD filled in the password")
			g.Expect(cfg.ConnConfig.RuntimeParams).NotTo(HaveKey("application_name"), "PGAPPNAME was sent")
			g.Expect(cfg.ConnConfig.Port).To(Equal(uint16(port)))
			g.Expect(cfg.ConnConfig.TLSConfig).To(BeNil())
		}
		// Without a port in the DSN, PGPORT (the server's) is not used: libpq's 5432 is.
		cfg, err := parseDSN(fmt.Sprintf("postgres://postgres@127.0.0.1/%s", db))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(cfg.ConnConfig.Port).To(Equal(uint16(5432)))
		// Without sslmode, PGSSLMODE=disable is not used: libpq's prefer tries TLS first.
		g.Expect(cfg.ConnConfig.TLSConfig).NotTo(BeNil())
		// A DSN's own settings are kept.
		cfg, err = parseDSN(fmt.Sprintf("postgres://postgres:pw@127.0.0.1/%s?application_name=mine&ssl=true", db))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(cfg.ConnConfig.Password).To(Equal("pw"))
		g.Expect(cfg.ConnConfig.RuntimeParams).To(HaveKeyWithValue("application_name", "mine"))
		g.Expect(cfg.ConnConfig.TLSConfig).NotTo(BeNil())
		g.Expect(cfg.ConnConfig.Fallbacks).To(BeEmpty(), "ssl=true (sslmode=require) has no plain-text fallback")
	})

	g := NewWithT(t)
	conn, err := pgx.Connect(context.Background(), dsn)
	g.Expect(err).NotTo(HaveOccurred())
	defer conn.Close(context.Background())
	var n int
	g.Expect(conn.QueryRow(context.Background(), `SELECT count(*) FROM crm`).Scan(&n)).To(Succeed())
	g.Expect(n).To(BeZero(), "a row was written to the database PG* variables name")
}
