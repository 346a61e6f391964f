package kubectlsyncjob

import (
	"context"
	"io"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// TestExplainTimeoutDuringAPICall: --timeout running out while the wait lists the Job's
// Pods is told as running out between two polls ("gave up waiting for Job"), not as the
// list call's own deadline error.
func TestExplainTimeoutDuringAPICall(t *testing.T) {
	g := NewWithT(t)
	c := fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
		List: func(ctx context.Context, _ client.WithWatch, _ client.ObjectList, _ ...client.ListOption) error {
			<-ctx.Done() // the API answers only after the deadline
			return ctx.Err()
		},
	}).Build()
	p := &Plugin{Client: c, Namespace: "billing", Out: io.Discard, Err: io.Discard, Poll: time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := p.waitPodEnd(ctx, "invoices-explain-1")
	g.Expect(err).To(MatchError(ContainSubstring("gave up waiting for Job invoices-explain-1 (--timeout)")))
	g.Expect(err).To(MatchError(context.DeadlineExceeded))
}
