package demoapi

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// BillingData describes the generated initial invoices. The same options and
// BillingOptions.Seed give the same invoices.
type BillingData struct {
	// Invoices to generate (0: none). Invoice n (1-based) gets id formatID(n).
	Invoices int
	// Customers the invoices are spread over (default max(1, Invoices/20)); customer ids
	// are "cus_<n>" zero-padded to at least 5 digits.
	Customers int
	// Start is the creation time of the first invoice (default: the clock's now minus
	// Spread, truncated to the second).
	Start time.Time
	// Spread is the interval over which creation times are spread evenly (default 72h).
	// About a third of the invoices were paid later: their updated_at is their
	// created_at plus a random delay of up to Spread/10, so id order and updated_at order
	// differ, as in a real billing system.
	Spread time.Duration
	// Ties are the sizes of groups of invoices that share one identical updated_at (the
	// seed article's "300 invoices with one identical updated_at"). Groups are placed
	// evenly over the id range.
	Ties []int
	// IDWidth is the zero-padding of string ids (default max(5, digits of Invoices)).
	IDWidth int
}

// seed generates opts.Data (called once, before the server is shared).
func (b *Billing) seed(d BillingData) {
	b.width = d.IDWidth
	if b.width <= 0 {
		b.width = max(5, len(strconv.Itoa(d.Invoices)))
	}
	if d.Invoices <= 0 {
		return
	}
	customers := d.Customers
	if customers <= 0 {
		customers = max(1, d.Invoices/20)
	}
	cwidth := max(5, len(strconv.Itoa(customers)))
	spread := d.Spread
	if spread <= 0 {
		spread = 72 * time.Hour
	}
	start := d.Start
	if start.IsZero() {
		start = b.opts.Clock().Add(-spread).Truncate(time.Second)
	}
	rng := rand.New(rand.NewPCG(uint64(b.opts.Seed), 0xb111))
	step := spread / time.Duration(d.Invoices)
	entries := make([]*billingEntry, 0, d.Invoices)
	for n := 1; n <= d.Invoices; n++ {
		created := micro(start.Add(time.Duration(n-1)*step + time.Duration(rng.Int64N(int64(max(step, 1))))))
		inv := Invoice{
			ID:         b.formatID(int64(n)),
			CustomerID: fmt.Sprintf("cus_%0*d", cwidth, 1+rng.IntN(customers)),
			Currency:   "USD",
			CreatedAt:  created,
			UpdatedAt:  created,
		}
		cents := 1000 + rng.IntN(500000)
		inv.Total = fmt.Sprintf("%d.%02d", cents/100, cents%100)
		switch p := rng.IntN(100); {
		case p < 33:
			inv.Status = StatusPaid
			inv.UpdatedAt = micro(created.Add(time.Duration(rng.Int64N(int64(spread/10) + 1))))
		case p < 38:
			inv.Status = StatusVoid
		case p < 60:
			inv.Status = StatusPaid
		default:
			inv.Status = StatusOpen
		}
		entries = append(entries, &billingEntry{inv: inv, num: int64(n)})
	}
	// Tie groups: consecutive ids share the updated_at of the group's first invoice.
	total := 0
	for g, size := range d.Ties {
		size = min(size, d.Invoices-total)
		if size <= 0 {
			break
		}
		first := (g + 1) * d.Invoices / (len(d.Ties) + 1)
		first = min(first, d.Invoices-size)
		at := entries[first].inv.UpdatedAt
		for _, e := range entries[first : first+size] {
			e.inv.UpdatedAt = at
			if e.inv.CreatedAt.After(at) {
				e.inv.CreatedAt = at
			}
		}
		total += size
	}
	for _, e := range entries {
		b.byID[e.inv.ID] = e
	}
	slices.SortFunc(entries, b.compare)
	b.order = entries
	b.next = int64(d.Invoices) + 1
}
