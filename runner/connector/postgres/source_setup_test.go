package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/connector"
)

func TestSourceFieldValues(t *testing.T) {
	g := NewWithT(t)
	dsn := newDB(t,
		`CREATE TABLE items (
			id int PRIMARY KEY, updated_at timestamptz NOT NULL,
			small smallint, big bigint, amount numeric(30,10), ratio double precision, flag boolean,
			name varchar(20), code char(3), ref uuid, born date, seen timestamp, doc jsonb, raw json, tags text[], gone text)`,
		`INSERT INTO items VALUES (7, '2026-02-03 04:05:06.789012+00',
			-3, 9007199254740993, 12345678901234567890.0123456789, 0.1, true,
			'héllo', 'ab', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '2026-03-01'::date - 1, '2026-02-03 04:05:06.000007',
			'{"n": 12345678901234567890.5, "a": [1, "x", null, false]}', '[1,2]', '{a,b}', NULL)`)
	// The zone-less column "seen" is read in the declared zone.
	src, err := NewSource(context.Background(), SourceConfig{Table: "items", UpdatedAtColumn: "updated_at", IDColumn: "id", TimeZone: "UTC"}, dsn, SourceOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	defer src.Close()

	page, err := src.ReadPage(context.Background(), cursor.Beginning, 10)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(page.Records).To(HaveLen(1))
	r := page.Records[0]
	g.Expect(r.ID).To(Equal("7"))
	g.Expect(r.Fields).To(Equal(map[string]any{
		"id":         int64(7),
		"updated_at": time.Date(2026, 2, 3, 4, 5, 6, 789012000, time.UTC),
		"small":      int64(-3),
		"big":        int64(9007199254740993),
		"amount":     connector.Decimal("12345678901234567890.0123456789"),
		"ratio":      0.1,
		"flag":       true,
		"name":       "héllo",
		"code":       "ab",
		"ref":        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
		"born":       time.Date(2026, 2, 28, 0, 0, 0, 0, time.UTC),
		"seen":       time.Date(2026, 2, 3, 4, 5, 6, 7000, time.UTC),
		"doc":        map[string]any{"n": json.Number("12345678901234567890.5"), "a": []any{json.Number("1"), "x", nil, false}},
		"raw":        []any{json.Number("1"), json.Number("2")},
		"tags":       "{a,b}",
		"gone":       nil,
	}))
}

func TestSourceSetupErrors(t *testing.T) {
	dsn := newDB(t,
		`CREATE SCHEMA billing`,
		`CREATE TABLE billing.invoices (id bigint PRIMARY KEY, updated_at timestamptz, modified timestamp, version integer, ident numeric)`,
		`CREATE VIEW billing.recent AS SELECT * FROM billing.invoices`,
		`CREATE TABLE billing.zoned (id bigint PRIMARY KEY, updated_at timestamptz)`)
	tests := []struct {
		name string
		cfg  SourceConfig
		err  string
	}{
		{"missing table", SourceConfig{Table: "billing.nope", UpdatedAtColumn: "updated_at", IDColumn: "id"}, `table "billing.nope" not found`},
		{"table not on the search path", SourceConfig{Table: "invoices", UpdatedAtColumn: "updated_at", IDColumn: "id"}, `table "invoices" not found`},
		{"bad table name", SourceConfig{Table: "a.b.c", UpdatedAtColumn: "updated_at", IDColumn: "id"}, `want table or schema.table`},
		{"missing cursor column", SourceConfig{Table: "billing.invoices", UpdatedAtColumn: "changed", IDColumn: "id"}, `updated_at column "changed" not found in table "billing.invoices"`},
		{"missing id column", SourceConfig{Table: "billing.invoices", UpdatedAtColumn: "updated_at", IDColumn: "uid"}, `id column "uid" not found in table "billing.invoices"`},
		{"non-timestamp cursor", SourceConfig{Table: "billing.invoices", UpdatedAtColumn: "version", IDColumn: "id"}, `updated_at column "version" of table "billing.invoices" is integer, want timestamptz or timestamp`},
		{"timestamp without declared zone", SourceConfig{Table: "billing.invoices", UpdatedAtColumn: "modified", IDColumn: "id"}, `declare spec.source.postgres.timeZone`},
		{"unknown zone", SourceConfig{Table: "billing.invoices", UpdatedAtColumn: "modified", IDColumn: "id", TimeZone: "Mars/Olympus"}, `timeZone "Mars/Olympus"`},
		{"zone without a zone-less column", SourceConfig{Table: "billing.zoned", UpdatedAtColumn: "updated_at", IDColumn: "id", TimeZone: "UTC"}, `remove spec.source.postgres.timeZone`},
		{"zone-less column that is not the cursor", SourceConfig{Table: "billing.invoices", UpdatedAtColumn: "updated_at", IDColumn: "id"}, `column "modified" of table "billing.invoices" is timestamp without time zone: declare spec.source.postgres.timeZone`},
		{"unsupported id type", SourceConfig{Table: "billing.invoices", UpdatedAtColumn: "updated_at", IDColumn: "ident"}, `id column "ident" of table "billing.invoices" is numeric, want an integer`},
		// Fields the API always sets: empty is refused, never defaulted.
		{"no cursor column", SourceConfig{Table: "billing.invoices", IDColumn: "id"}, `updated_at column (spec.source.postgres.updatedAtColumn) is empty`},
		{"no id column", SourceConfig{Table: "billing.invoices", UpdatedAtColumn: "updated_at"}, `id column (spec.source.postgres.idColumn) is empty`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			src, err := NewSource(context.Background(), tt.cfg, dsn, SourceOptions{})
			g.Expect(err).To(MatchError(ContainSubstring(tt.err)))
			g.Expect(src).To(BeNil())
		})
	}

	t.Run("a view is a valid source", func(t *testing.T) {
		g := NewWithT(t)
		src, err := NewSource(context.Background(), SourceConfig{Table: "billing.recent", UpdatedAtColumn: "updated_at", IDColumn: "id", TimeZone: "UTC"}, dsn, SourceOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(src.Close()).To(Succeed())
	})
}

func TestConnectErrorsHideThePassword(t *testing.T) {
	const password = "Sup3r-s3cret-pw"
	admin := newDB(t, fmt.Sprintf(`CREATE ROLE alice LOGIN PASSWORD '%s'`, password))
	_ = admin

	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	closedPort := l.Addr().(*net.TCPAddr).Port
	l.Close()

	// A listener that accepts and never answers: only the connect timeout ends the wait.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	silentPort := silent.Addr().(*net.TCPAddr).Port

	tests := []struct {
		name    string
		dsn     string
		timeout time.Duration
		want    []string
	}{
		{"refused, URL", fmt.Sprintf("postgres://alice:%s@127.0.0.1:%d/postgres", password, closedPort), 0,
			[]string{fmt.Sprintf("127.0.0.1:%d", closedPort), "connect to postgres"}},
		{"refused, key/value", fmt.Sprintf("host=127.0.0.1 port=%d user=alice password=%s dbname=postgres", closedPort, password), 0,
			[]string{fmt.Sprintf("127.0.0.1:%d", closedPort)}},
		{"wrong password", fmt.Sprintf("postgres://alice:%sX@127.0.0.1:%d/postgres", password, server.Port()), 0,
			[]string{"password authentication failed", fmt.Sprintf("127.0.0.1:%d", server.Port())}},
		{"unknown database", fmt.Sprintf("postgres://alice:%s@127.0.0.1:%d/nope", password, server.Port()), 0,
			[]string{`database "nope" does not exist`}},
		{"unparseable", fmt.Sprintf("postgres://alice:%s@127.0.0.1:notaport/db", password), 0,
			[]string{"parse postgres DSN"}},
		{"unreachable, bounded by the connect timeout", fmt.Sprintf("postgres://alice:%s@127.0.0.1:%d/postgres", password, silentPort), 200 * time.Millisecond,
			[]string{fmt.Sprintf("127.0.0.1:%d", silentPort), "timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := NewSource(context.Background(), SourceConfig{Table: "items", UpdatedAtColumn: "updated_at", IDColumn: "id"}, tt.dsn, SourceOptions{ConnectTimeout: tt.timeout})
			g.Expect(err).To(HaveOccurred())
			t.Log(err)
			for _, w := range tt.want {
				g.Expect(err.Error()).To(ContainSubstring(w))
			}
			g.Expect(err.Error()).NotTo(ContainSubstring(password))
			g.Expect(strings.ToLower(err.Error())).NotTo(ContainSubstring(strings.ToLower(password)))

			_, err = NewSink(context.Background(), SinkConfig{Table: "items", KeyColumn: "k", SourceUpdatedAtColumn: "source_updated_at", CopyThreshold: 1000, DeleteMode: DeleteIgnore},
				tt.dsn, SinkOptions{ConnectTimeout: tt.timeout})
			g.Expect(err).To(HaveOccurred())
			for _, w := range tt.want {
				g.Expect(err.Error()).To(ContainSubstring(w))
			}
			g.Expect(err.Error()).NotTo(ContainSubstring(password))
			g.Expect(strings.ToLower(err.Error())).NotTo(ContainSubstring(strings.ToLower(password)))
		})
	}
}
