package main

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr(g Gomega) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	defer ln.Close()
	return ln.Addr().String()
}

func TestEachAPIServesEveryAddressWithItsOwnKey(t *testing.T) {
	g := NewWithT(t)
	t.Setenv("TEST_BILLING_KEY", "billing-key-1")
	t.Setenv("TEST_CRM_KEY", "crm-key-2")
	pidFile := filepath.Join(t.TempDir(), "services.pid")
	billing2, crm2 := freeAddr(g), freeAddr(g)
	s := start(t, "-billing-addr", "127.0.0.1:0,"+billing2, "-crm-addr", "127.0.0.1:0, "+crm2,
		"-invoices", "20", "-billing-api-key-env", "TEST_BILLING_KEY", "-crm-api-key-env", "TEST_CRM_KEY",
		"-pid-file", pidFile)

	for _, base := range []string{s.urls["BILLING_URL"], "http://" + billing2} {
		g.Expect(status(g, base+"/invoices?limit=1", "billing-key-1")).To(Equal(http.StatusOK), base)
		g.Expect(status(g, base+"/invoices?limit=1", "crm-key-2")).To(Equal(http.StatusUnauthorized), base)
	}
	for _, base := range []string{s.urls["CRM_URL"], "http://" + crm2} {
		g.Expect(status(g, base+"/accounts", "crm-key-2")).To(Equal(http.StatusOK), base)
		g.Expect(status(g, base+"/accounts", "billing-key-1")).To(Equal(http.StatusUnauthorized), base)
		g.Expect(status(g, base+"/accounts", "")).To(Equal(http.StatusUnauthorized), base)
	}

	pid, err := os.ReadFile(pidFile)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(strings.TrimSpace(string(pid))).To(Equal(strconv.Itoa(os.Getpid())))
}

func TestOneBadAddressFailsTheStart(t *testing.T) {
	g := NewWithT(t)
	err := run(t.Context(), []string{"-billing-addr", "127.0.0.1:0,256.0.0.1:1"}, os.Stdout, os.Stderr)
	g.Expect(err).To(MatchError(ContainSubstring("billing API on 256.0.0.1:1")))
	err = run(t.Context(), []string{"-crm-addr", " , "}, os.Stdout, os.Stderr)
	g.Expect(err).To(MatchError(ContainSubstring("no listen address for the CRM API")))
}
