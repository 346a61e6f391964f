package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

func TestServesBothAPIsAndStopsWhenCancelled(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-billing-addr", "127.0.0.1:0", "-crm-addr", "127.0.0.1:0",
			"-invoices", "50", "-customers", "5", "-omit-accounts", "cus_00002", "-crm-fail-every", "1"}, w, io.Discard)
		w.Close()
	}()
	lines := bufio.NewScanner(out)
	urls := map[string]string{}
	for len(urls) < 2 && lines.Scan() {
		name, url, ok := strings.Cut(lines.Text(), "=")
		g.Expect(ok).To(BeTrue(), lines.Text())
		urls[name] = url
	}
	g.Expect(urls).To(HaveKey("BILLING_URL"))
	g.Expect(urls).To(HaveKey("CRM_URL"))
	go func() { _, _ = io.Copy(io.Discard, out) }()

	resp, err := http.Get(urls["BILLING_URL"] + "/invoices?limit=10")
	g.Expect(err).NotTo(HaveOccurred())
	resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	g.Expect(resp.Header.Get("Link")).To(ContainSubstring(`rel="next"`))

	resp, err = http.Get(urls["CRM_URL"] + "/accounts?billing_customer_id=cus_00002")
	g.Expect(err).NotTo(HaveOccurred())
	resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusServiceUnavailable), "the CRM fault flag applies")

	cancel()
	g.Eventually(done).Should(Receive(BeNil()))
}

func TestRejectsBadFlags(t *testing.T) {
	g := NewWithT(t)
	g.Expect(run(context.Background(), []string{"-ties", "x"}, io.Discard, io.Discard)).To(MatchError(ContainSubstring("-ties")))
	g.Expect(run(context.Background(), []string{"-nope"}, io.Discard, io.Discard)).To(HaveOccurred())
	g.Expect(run(context.Background(), []string{"-billing-addr", "256.0.0.1:1"}, io.Discard, io.Discard)).To(MatchError(ContainSubstring("billing API")))
}
