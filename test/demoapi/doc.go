// Package demoapi holds two in-memory HTTP servers that behave like the SaaS APIs of the
// seed scenario: a billing tool that lists invoices incrementally, and a CRM that stores
// invoice objects under the external key billing_invoice_id, linked to the CRM account
// whose stored billing_customer_id is the invoice's customer. Go tests mount them with
// httptest; hack/demo-services serves them for the demo. This comment is their contract.
//
// # Common behaviour
//
// Bodies are JSON. Errors are {"code": "...", "message": "..."} with codes bad_request,
// not_found, unauthorized, rate_limited, unavailable, validation, stale and
// multiple_matches. Times are sent as RFC 3339 UTC with six fraction digits (WireTime)
// and accepted in any RFC 3339 form.
//
// When an API key is configured, API requests need "Authorization: Bearer <key>" or
// "X-API-Key: <key>" (else 401). Faults (see Faults) apply to API requests, in this order:
// latency; the 429-after-N quota; the token bucket; injected failures. A refused request
// gets 429 with "Retry-After: <seconds>" (at least 1); with a token bucket every answer
// also carries RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset (seconds). An
// injected failure is FailStatus (default 503) with code "unavailable"; with
// FailAfterApply the request took effect before it failed. Endpoints under /admin/ are
// never authenticated, throttled, failed or counted.
//
// # Billing API (Billing)
//
// An invoice: {"id": "inv_00042" (or 42 with IntegerIDs), "customer_id": "cus_00007",
// "status": "open"|"paid"|"void", "total": "120.50" (a decimal string, never a float),
// "currency": "USD", "created_at", "updated_at", "deleted_at": null or a time}.
//
//	GET /invoices?updated_since=<RFC3339>&after_id=<id>&limit=<n>&page_token=<t>&offset=<n>
//
// returns {"data": [invoices], "next": "<token>" or "", "has_more": bool}, sorted
// ascending by (updated_at, id). Records match when updated_at > updated_since, or
// updated_at == updated_since and id > after_id; without after_id, every record with
// updated_at >= updated_since; without updated_since, from the beginning. Ids compare as
// strings (StringIDs: generated ids are zero-padded, so this is also numeric order) or as
// integers (IntegerIDs: 9 < 10; a non-integer after_id is a 400). limit defaults to 100
// and is clamped to 1000. When more records follow, "next" holds an opaque page token
// and a `Link: <absolute URL>; rel="next"` header repeats the query with page_token set:
// both modes always work. A page_token replaces updated_since and after_id. A sorted page
// token is the page's last (updated_at, id), so records changed between pages are not
// skipped (they move behind the token and are read later). offset=<n> pages by position
// instead (no "next" token; the Link header carries offset): rows that move between pages
// are missed or repeated, as with any offset API.
//
// With Unsorted, the same filter applies but records come in a pseudo-random order that
// is stable for a given query and data set; page tokens are positions in that order.
//
//	GET /invoices/{id}            one invoice, or 404
//	GET /invoices/batch?ids=<id>,<id>,...   the invoices of up to BatchMaxIDs (100) ids
//	                              as {"data": [...]}, ids it does not hold left out; more
//	                              ids is a 400 (like Shopify's or Zendesk's ?ids= reads)
//	GET /invoices/deleted?since=<RFC3339>&limit=<n>&page_token=<t>
//	GET /invoices/ids?after=<id>&limit=<n>   ids after <id> in byte order, a JSON array
//
// lists the tombstones of purged invoices, {"id", "deleted_at"}, ascending by (deleted_at,
// id), deleted at or after since, paged like GET /invoices ("next" and a Link header).
//
// Admin (for the demo and tests; Go methods in brackets):
//
//	GET    /admin/invoices                      every invoice, sorted [Invoices]
//	POST   /admin/invoices                      upsert one invoice object or an array; a
//	                                            missing id takes the next generated id, a
//	                                            missing updated_at the clock's now [Upsert]
//	POST   /admin/invoices/{id}/pay             status paid, updated_at = now or the
//	                                            "updated_at" query parameter or body field
//	                                            (a late update behind a cursor) [Pay]
//	DELETE /admin/invoices/{id}                 soft delete: deleted_at = updated_at = now
//	                                            or the given updated_at [SoftDelete]
//	POST   /admin/invoices/{id}/purge           hard delete at now or the given updated_at,
//	                                            listed by GET /invoices/deleted [Purge]
//	GET    /admin/stats                         counters [Stats]
//	GET    /admin/faults, PUT /admin/faults     fault settings; durations as "1.5s":
//	                                            {"ratePerSecond", "burst", "quotaRequests",
//	                                            "quotaReset", "failEvery", "failProbability",
//	                                            "failStatus", "failAfterApply", "latency"}
//	                                            [Faults, SetFaults]
//	POST   /admin/quota/reset                   renew the 429-after-N quota [ResetQuota]
//
// # CRM API (CRM)
//
// Accounts: {"id": "acc_00001", "name", "billing_customer_id"}, one per billing customer
// at start (CRMOptions.Customers, minus OmitAccounts).
//
//	GET /accounts?billing_customer_id=<id>    {"results": [accounts]} (all without the parameter)
//	GET /accounts/{id}                        one account, or 404
//
// Invoice objects are {"id": "crm_0000001", "billing_invoice_id": "<key>",
// "properties": {...}, "version": n, "created_at", "updated_at"}, plus "result":
// "created"|"updated"|"unchanged" in write answers. A write's fields are the properties;
// single-object writes take either the fields themselves or {"properties": {...}}.
// Property rules, per record:
//   - "account_billing_customer_id": "<cus>" links the invoice to the account with that
//     billing_customer_id; the CRM stores the account's id as "account_id". No such
//     account: 400 "no account with billing_customer_id <cus>".
//   - "account_id", when given, must be an existing account: else 400 "account_id <id>
//     does not exist". With RequireAccount, a write leaving no account_id is a 400
//     "account_id required".
//   - "total", when given, must be a JSON number or a decimal string: else 400 "total
//     must be a number".
//   - "source_updated_at" (SourceUpdatedAtField) is the source record's updated time
//     (RFC 3339). The object remembers the newest one written; a write carrying an older
//     one is refused with 409 code "stale" ("stale write refused: ..."). An equal or
//     newer one, or none, is accepted.
//   - keys injected with Reject fail with 400 and the injected message until cleared.
//
// A write whose resulting properties equal the stored ones is "unchanged" (no new
// version). PUT replaces the properties; PATCH and batch inputs merge into them.
//
// (a) Upsert by external id (Salesforce shape):
//
//	PUT|PATCH /invoices/billing_invoice_id/{key}   201 created, 200 updated or unchanged,
//	                                               400, 409 stale, 300 multiple_matches
//	                                               {"ids": [...]} when duplicates exist
//	GET       /invoices/billing_invoice_id/{key}   the object, 404, or 300
//	DELETE    /invoices/billing_invoice_id/{key}   204, 404, or 300
//
// (b) Batch upsert (HubSpot shape), at most MaxBatch (100) inputs:
//
//	POST /invoices/batch/upsert
//	{"inputs": [{"idProperty": "billing_invoice_id", "id": "<key>", "properties": {...}}]}
//
// answers {"status": "COMPLETE", "results": [objects with "result"], "errors": [{"id":
// "<key>", "status": 400|409, "code", "message", "ids"?}], "numErrors": n} with 200 when
// every input was written and 207 when some were refused. Each input stands alone: a
// refused input never fails the others; inputs apply in order. Results keep input order
// and list only written inputs; match them to inputs by "billing_invoice_id". A malformed
// body, no inputs or too many inputs fail the whole request with 400, before anything is
// written.
//
// (c) No upsert (lookup, then create or update):
//
//	GET    /invoices/search?billing_invoice_id=<key>   {"results": [objects], "total": n}
//	POST   /invoices                                   always creates (201): the body must
//	                                                   hold billing_invoice_id; posting the
//	                                                   same key twice makes duplicates
//	PATCH  /invoices/{id}                              merge into one object: 200, 400,
//	                                                   404, 409 stale
//	GET    /invoices/{id}, DELETE /invoices/{id}       the object or 204; 404
//
// Reading state:
//
//	GET /invoices?limit=<n>&after=<crm id>    {"results": [objects ascending by id],
//	                                           "next": "<crm id to pass as after>" or ""}
//	GET /invoices/count?source_updated_from=<t>&source_updated_to=<t>
//	                                          {"count": n}: objects whose newest
//	                                          source_updated_at is in [from, to]; each
//	                                          unset=<property> leaves out objects whose
//	                                          property is set (soft-deleted ones)
//
// Admin (Go methods in brackets): GET /admin/invoices [Invoices, Count],
// GET /admin/duplicates {"keys": [...]} [DuplicateKeys], GET /admin/rejections,
// PUT /admin/rejections/{key} {"message": "..."} [Reject], DELETE
// /admin/rejections/{key} [ClearRejection], DELETE /admin/rejections [ClearRejections],
// POST /admin/accounts {"billing_customer_id", "name"} [AddAccount], DELETE
// /admin/accounts/{id} [RemoveAccount], and the stats, faults and quota endpoints of the
// billing API.
//
// # Scale
//
// Invoices are kept in a slice sorted by (updated_at, id): a list request is a binary
// search plus the page (Unsorted costs a sort of the matching records per request), an
// update a delete and an insert in the slice. 100,000 invoices and objects fit easily.
package demoapi
