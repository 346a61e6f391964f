package jobconfig

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/mapping"
)

// tableSource is a source that knows its columns; apiSource one that does not.
type (
	apiSource   struct{}
	tableSource struct {
		apiSource
		table   string
		columns []string
	}
)

func (apiSource) ReadPage(context.Context, cursor.Cursor, int) (connector.Page, error) {
	return connector.Page{}, nil
}
func (apiSource) CompareIDs(a, b string) int      { return 0 }
func (apiSource) Close() error                    { return nil }
func (s tableSource) Columns() (string, []string) { return s.table, s.columns }

var _ connector.Columns = tableSource{}

// TestSetupChecksMappingColumns: with a source that knows its columns, a from path whose
// column does not exist fails setup naming spec.mapping[i].from and the table; a source
// that does not know them (HTTP) is left to the engine's page check.
func TestSetupChecksMappingColumns(t *testing.T) {
	g := NewWithT(t)
	sj := &syncv1.SyncJob{Spec: syncv1.SyncJobSpec{
		Source: syncv1.SourceSpec{Postgres: &syncv1.PostgresSource{}},
		Key:    syncv1.KeySpec{Field: "ext_id"},
		Mapping: []syncv1.FieldMapping{
			{To: "status", From: "status"},
			{To: "customer", From: "customer_idd"},
		},
	}}
	sj.Default()
	m, err := mapping.New(mappingSpec(&sj.Spec))
	g.Expect(err).NotTo(HaveOccurred())

	table := tableSource{table: "public.invoices", columns: []string{"id", "customer_id", "status", "updated_at"}}
	g.Expect(checkColumns(table, m)).To(MatchError(`spec.mapping[1].from: column "customer_idd" does not exist in table "public.invoices"`))
	g.Expect(checkColumns(apiSource{}, m)).To(Succeed())

	table.columns = append(table.columns, "customer_idd")
	g.Expect(checkColumns(table, m)).To(Succeed())
}
