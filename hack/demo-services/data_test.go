package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestStartAgoKeepsEveryUpdateInThePast(t *testing.T) {
	g := NewWithT(t)
	// 72h spread: creation ends 24h ago, a later payment at most 7.2h after creation.
	s := start(t, "-billing-addr", "127.0.0.1:0", "-crm-addr", "127.0.0.1:0", "-invoices", "500",
		"-spread", "72h", "-start-ago", "96h")
	before := time.Now()

	resp, err := http.Get(s.urls["BILLING_URL"] + "/admin/invoices")
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	var body struct {
		Data []struct {
			CreatedAt time.Time `json:"created_at"`
			UpdatedAt time.Time `json:"updated_at"`
		} `json:"data"`
	}
	g.Expect(json.NewDecoder(resp.Body).Decode(&body)).To(Succeed())
	g.Expect(body.Data).To(HaveLen(500))
	first, newest := body.Data[0].CreatedAt, body.Data[0].UpdatedAt
	for _, inv := range body.Data {
		if inv.CreatedAt.Before(first) {
			first = inv.CreatedAt
		}
		if inv.UpdatedAt.After(newest) {
			newest = inv.UpdatedAt
		}
	}
	g.Expect(first).To(BeTemporally("~", before.Add(-96*time.Hour), time.Hour))
	g.Expect(newest).To(BeTemporally("<", before.Add(-16*time.Hour)))
}
