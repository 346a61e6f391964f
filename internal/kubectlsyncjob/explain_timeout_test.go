package kubectlsyncjob

import (
	"context"
	"io"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
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

// TestTimeoutInTheClientRateLimiter: a poll that the client's rate limiter would hold past
// --timeout is the timeout too. client-go's limiter refuses such a wait at once, with the
// context still live ("rate: Wait(n=1) would exceed context deadline"), which the wait used
// to report as an API error.
func TestTimeoutInTheClientRateLimiter(t *testing.T) {
	g := NewWithT(t)
	cfg := rest.CopyConfig(kube.Config)
	cfg.QPS, cfg.Burst = 1, 1 // the second poll waits a second for its token
	p, err := NewPlugin(cfg, "default", io.Discard, io.Discard)
	g.Expect(err).NotTo(HaveOccurred())
	p.Poll = time.Millisecond
	// The client's first call also reads the API's discovery; after it the bucket is empty.
	g.Expect(p.Client.List(context.Background(), &corev1.PodList{}, client.InNamespace("default"))).To(Succeed())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = p.waitPodEnd(ctx, "invoices-explain-1")
	g.Expect(err).To(MatchError(ContainSubstring("gave up waiting for Job invoices-explain-1 (--timeout)")))
	g.Expect(err).To(MatchError(context.DeadlineExceeded))
}
