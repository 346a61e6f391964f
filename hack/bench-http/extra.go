package main

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/checkpointed/checkpointed/test/demoapi"
)

// runExtra runs the slow-sink scenario and the failed-key fetch.
//
// Slow sink: the main scenario's APIs and client limit, but each batch upsert of the CRM
// takes slowSink (less than the time the rate limit gives a page, far more than nothing).
// Reading page n+1 while page n is written (the engine's read-ahead, its requests under the
// run's one client-side bucket) is what keeps the rate limit used: read and write in turn,
// a page costs its read plus its write.
func runExtra(runner, dir string, invoices int, apiRate, clientRate float64, slowSink time.Duration, failedKeys int) error {
	if slowSink > 0 {
		client := min(clientRate, 2*apiRate) // two APIs, one client-side bucket for both
		slow := func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/batch/upsert") {
					time.Sleep(slowSink)
				}
				h.ServeHTTP(w, r)
			})
		}
		o, err := scenario(runner, dir, "slow-sink", invoices,
			demoapi.Faults{RatePerSecond: apiRate}, demoapi.Faults{RatePerSecond: apiRate}, client, slow)
		if err != nil {
			return err
		}
		rate := float64(o.requests) / o.wall.Seconds()
		// read, then write, in turn: a page costs a token wait, its read, a token wait and
		// its write (the tokens of the two requests come 1/client apart).
		seq := 2 / (2/client + slowSink.Seconds())
		fmt.Printf("  slow sink (each CRM batch upsert %s, each API %.0f/s, client %.0f/s): %d invoices in %.1f s\n",
			slowSink, apiRate, client, o.records, o.wall.Seconds())
		fmt.Printf("  requests/s achieved         %6.1f of %.0f allowed (%.1f %%; read and write in turn: at most %.0f %%)   target >= 95 %%   %s\n",
			rate, client, 100*rate/client, 100*min(seq, client)/client, verdict(rate >= 0.95*client))
		fmt.Printf("  429s received               %6d   target 0   %s\n", o.throttled, verdict(o.throttled == 0))
	}
	if failedKeys > 0 {
		perID, batch, err := failedKeyFetch(failedKeys, apiRate, min(clientRate, apiRate))
		if err != nil {
			return err
		}
		fmt.Printf("  %d failed keys fetched (1 %% purged), billing API %.0f/s, client %.0f/s:\n", failedKeys, apiRate, min(clientRate, apiRate))
		fmt.Printf("    per id (getByIdUrl)        %6d requests  %6.2f s   %d 429s\n", perID.requests, perID.wall.Seconds(), perID.throttled)
		fmt.Printf("    batch (getByIdsUrl, 100)   %6d requests  %6.2f s   %d 429s   (%.0fx fewer requests)\n",
			batch.requests, batch.wall.Seconds(), batch.throttled, float64(perID.requests)/float64(max(batch.requests, 1)))
	}
	return nil
}
