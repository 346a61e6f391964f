package runstatus

import (
	"context"
	"fmt"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/kubeapi"
	"github.com/checkpointed/checkpointed/test/kubetest"
)

// env is the envtest control plane shared by this package's tests, set by TestMain.
var env *kubetest.Env

func TestMain(m *testing.M) {
	var err error
	env, err = kubetest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop envtest:", err)
	}
	os.Exit(code)
}

// runnerAPI returns the runner's API client (the Writer's API in a runner) as an admin.
func runnerAPI(t *testing.T) *kubeapi.Client {
	t.Helper()
	api, err := kubeapi.New(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	return api
}

// setup returns an admin client and a fresh namespace holding a valid SyncJob sj1.
func setup(t *testing.T) (client.Client, string) {
	t.Helper()
	ctx := context.Background()
	c, err := client.New(env.Config, client.Options{Scheme: kubetest.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "status-"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	sj := &syncv1.SyncJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "sj1"},
		Spec: syncv1.SyncJobSpec{
			Schedule: "0 2 * * *",
			TimeZone: ptr.To("UTC"),
			Source: syncv1.SourceSpec{Name: "billing", Postgres: &syncv1.PostgresSource{
				DSN: syncv1.SecretKeyRef{Name: "billing-db", Key: "dsn"}, Table: "invoices"}},
			Sink: syncv1.SinkSpec{Postgres: &syncv1.PostgresSink{
				DSN: syncv1.SecretKeyRef{Name: "crm-db", Key: "dsn"}, Table: "crm_invoices"}},
			Key:     syncv1.KeySpec{Field: "billing_invoice_id"},
			Mapping: []syncv1.FieldMapping{{To: "status", From: "status"}},
		},
	}
	if err := c.Create(ctx, sj); err != nil {
		t.Fatalf("create SyncJob: %v", err)
	}
	return c, ns.Name
}
