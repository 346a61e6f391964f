// Package httpapi holds the HTTP (JSON REST) connectors: the source, which reads a list
// endpoint incrementally by a cursor query parameter and the API's pagination, and the
// sink. Both send their requests through package transport, which owns auth, rate limits
// and retries.
package httpapi
