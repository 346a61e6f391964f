package demoapi

import (
	"net/http"
	"strings"
)

// server is what the billing API and the CRM have in common: the API behind the fault
// guard, and the admin endpoints beside it.
type server struct {
	guard *guard
	api   http.Handler
	admin *http.ServeMux
}

// ServeHTTP serves the API and, under /admin/, the admin endpoints.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/admin/") {
		s.admin.ServeHTTP(w, r)
		return
	}
	s.api.ServeHTTP(w, r)
}

// SetFaults replaces the fault configuration (the bucket starts full, the quota afresh).
func (s *server) SetFaults(f Faults) { s.guard.setFaults(f) }

// Faults returns the current fault configuration.
func (s *server) Faults() Faults { return s.guard.getFaults() }

// ResetQuota renews the Faults.QuotaRequests quota.
func (s *server) ResetQuota() { s.guard.resetQuota() }

// Stats returns the request counters (and, for the CRM, the write counters).
func (s *server) Stats() Stats { return s.guard.snapshot() }
