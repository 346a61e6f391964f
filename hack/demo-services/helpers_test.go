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

// started is a run of the services in the background.
type started struct {
	urls   map[string]string
	done   chan error
	cancel context.CancelFunc
}

// start runs the services with args until the test ends and returns their printed URLs.
func start(t *testing.T, args ...string) *started {
	t.Helper()
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(context.Background())
	out, w := io.Pipe()
	s := &started{urls: map[string]string{}, done: make(chan error, 1), cancel: cancel}
	go func() {
		s.done <- run(ctx, args, w, io.Discard)
		w.Close()
	}()
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	lines := bufio.NewScanner(out)
	for len(s.urls) < 2 && lines.Scan() {
		name, url, ok := strings.Cut(lines.Text(), "=")
		g.Expect(ok).To(BeTrue(), lines.Text())
		s.urls[name] = url
	}
	g.Expect(s.urls).To(HaveKey("BILLING_URL"))
	g.Expect(s.urls).To(HaveKey("CRM_URL"))
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return s
}

// status answers GET url with the bearer token (none when empty) and returns the status.
func status(g Gomega, url, token string) int {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	g.Expect(err).NotTo(HaveOccurred())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	resp.Body.Close()
	return resp.StatusCode
}
