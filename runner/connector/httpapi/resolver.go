package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/connector/httpapi/transport"
)

// Resolver tunables: a ResolverOptions field left zero takes these.
const (
	// DefaultResolverEntries bounds the answers a Resolver caches.
	DefaultResolverEntries = 100_000
	// DefaultResolveTimeout bounds one Resolve, the client's retries included.
	DefaultResolveTimeout = 2 * time.Minute
	// DefaultResolverFailFast is how long lookups fail at once after the lookup API failed.
	DefaultResolverFailFast = 30 * time.Second
)

// ResolverOptions tune a Resolver. The zero value takes the defaults.
type ResolverOptions struct {
	// MaxEntries bounds the cache (default DefaultResolverEntries); past it, answers are
	// no longer cached but lookups still work.
	MaxEntries int
	// Timeout bounds one Resolve, retries included (default DefaultResolveTimeout), so a
	// caller without a deadline (the mapping's Map) cannot hang on the API.
	Timeout time.Duration
	// FailFast is how long, after a lookup failed on a 429, a 5xx or a network error
	// (after the client's retries), other lookups not in the cache fail at once with that
	// error instead of each waiting out the retries (default DefaultResolverFailFast).
	FailFast time.Duration
	// Clock decides the FailFast window; defaults to transport.SystemClock.
	Clock transport.Clock
	// Logger receives a debug line per lookup request. It never receives the value.
	Logger logr.Logger
}

// Resolver implements connector.Resolver through the HTTP sink's API, with the sink's client: its credentials, the run's rate limit and retries. It caches every
// answer for the run (an id, or "no object"), per lookup and value, and sends at most one
// request at a time per lookup and value. It is safe for concurrent use.
//
// A lookup GETs its URL with "{value}" replaced by the value (escaped). A 404 or 410 means
// no object. Otherwise the objects are at ResultsPath ("" = the body): an empty array or
// null is no object, an array of one or an object is the target, an array of more is an
// error (the link would be a guess). The id is at IDPath in the target, a string or a
// number (written in its decimal form).
//
// A failed lookup is not cached. One that failed on a 429, a 5xx or a network error makes
// the lookups of other values fail at once for ResolverOptions.FailFast: an API that is
// down fails a page's records in seconds rather than one retry budget each.
type Resolver struct {
	client   *transport.Client
	base     *url.URL
	max      int
	timeout  time.Duration
	failFast time.Duration
	clock    transport.Clock
	log      logr.Logger

	mu        sync.Mutex
	cache     map[lookupKey]*lookupEntry
	downUntil time.Time
	downErr   error
}

var _ connector.Resolver = (*Resolver)(nil)

// lookupKey identifies one cached answer.
type lookupKey struct {
	url, resultsPath, idPath, value string
}

// lookupEntry is one answer, or one in flight until done is closed.
type lookupEntry struct {
	done  chan struct{}
	id    string
	found bool
	err   error
}

// NewResolver makes a resolver for lookups on the sink's API: sinkURL is SinkConfig.URL,
// and every lookup URL must be on its scheme and host, since client carries the sink's
// credentials.
func NewResolver(sinkURL string, client *transport.Client, opts ResolverOptions) (*Resolver, error) {
	if client == nil {
		return nil, errors.New("lookups: no HTTP client")
	}
	base, err := url.Parse(strings.NewReplacer("{key}", "x", "{id}", "x").Replace(sinkURL))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, errors.New("lookups: the sink URL is not an absolute http or https URL")
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultResolverEntries
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultResolveTimeout
	}
	if opts.FailFast <= 0 {
		opts.FailFast = DefaultResolverFailFast
	}
	if opts.Clock == nil {
		opts.Clock = transport.SystemClock{}
	}
	return &Resolver{
		client:   client,
		base:     base,
		max:      opts.MaxEntries,
		timeout:  opts.Timeout,
		failFast: opts.FailFast,
		clock:    opts.Clock,
		log:      opts.Logger,
		cache:    map[lookupKey]*lookupEntry{},
	}, nil
}

// CheckLookup refuses, before the run, a lookup that is not valid (connector.Lookup.Validate)
// or whose URL is not absolute or not on the sink's scheme and host.
func (r *Resolver) CheckLookup(l connector.Lookup) error {
	if err := l.Validate(); err != nil {
		return fmt.Errorf("lookup: %w", err)
	}
	u, err := url.Parse(strings.ReplaceAll(l.URL, "{value}", "x"))
	if err != nil || !u.IsAbs() {
		return errors.New("lookup.url must be an absolute http or https URL")
	}
	if u.Scheme != r.base.Scheme || u.Host != r.base.Host {
		return fmt.Errorf("lookup.url must be on the sink's %s://%s: lookups carry the sink's credentials", r.base.Scheme, r.base.Host)
	}
	return nil
}

// Resolve finds the id of the object l finds by value; see Resolver.
func (r *Resolver) Resolve(ctx context.Context, l connector.Lookup, value string) (string, bool, error) {
	key := lookupKey{l.URL, l.ResultsPath, l.IDPath, value}
	r.mu.Lock()
	if e, ok := r.cache[key]; ok {
		r.mu.Unlock()
		select {
		case <-e.done:
		case <-ctx.Done():
			return "", false, ctx.Err()
		}
		return e.id, e.found, e.err
	}
	if r.clock.Now().Before(r.downUntil) {
		err := r.downErr
		r.mu.Unlock()
		return "", false, fmt.Errorf("not sent: a lookup failed within the last %s: %w", r.failFast, err)
	}
	e := &lookupEntry{done: make(chan struct{})}
	cached := len(r.cache) < r.max
	if cached {
		r.cache[key] = e
	}
	r.mu.Unlock()

	e.id, e.found, e.err = r.fetch(ctx, l, value)
	close(e.done)
	if e.err != nil {
		r.mu.Lock()
		if cached {
			delete(r.cache, key)
		}
		if transient(e.err) && ctx.Err() == nil {
			r.downUntil, r.downErr = r.clock.Now().Add(r.failFast), e.err
		}
		r.mu.Unlock()
	}
	return e.id, e.found, e.err
}

// transient reports an error of the API's availability: a 429 or 5xx after retries, or a
// network error (anything but another status).
func transient(err error) bool {
	var se *transport.StatusError
	if errors.As(err, &se) {
		return se.Code == http.StatusTooManyRequests || se.Code >= 500
	}
	var ae *answerError
	return !errors.As(err, &ae)
}

// answerError is a lookup answer that cannot be used: not transient.
type answerError struct{ msg string }

func (e *answerError) Error() string { return e.msg }

// fetch sends one lookup.
func (r *Resolver) fetch(ctx context.Context, l connector.Lookup, value string) (string, bool, error) {
	if err := r.CheckLookup(l); err != nil {
		return "", false, &answerError{err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	target := expand(l.URL, "{value}", value)
	r.log.V(1).Info("lookup", "url", safeTemplateURL(l.URL))
	resp, err := r.client.Do(ctx, transport.Request{URL: target, Accept: []int{http.StatusNotFound, http.StatusGone}})
	if err != nil {
		return "", false, err
	}
	if resp.Status == http.StatusNotFound || resp.Status == http.StatusGone {
		return "", false, nil
	}
	doc, err := resp.JSON()
	if err != nil {
		return "", false, &answerError{fmt.Sprintf("GET %s: %v", safeTemplateURL(target), err)}
	}
	v, ok := transport.Lookup(doc, l.ResultsPath)
	if !ok {
		return "", false, &answerError{fmt.Sprintf("GET %s: the answer has no %q", safeTemplateURL(target), l.ResultsPath)}
	}
	var target0 any
	switch t := v.(type) {
	case nil:
		return "", false, nil
	case []any:
		switch len(t) {
		case 0:
			return "", false, nil
		case 1:
			target0 = t[0]
		default:
			return "", false, &answerError{fmt.Sprintf("GET %s: %d objects match, want one", safeTemplateURL(target), len(t))}
		}
	default:
		target0 = t
	}
	idv, _ := transport.Lookup(target0, l.IDPath)
	id, ok := scalarString(idv)
	if !ok || id == "" {
		return "", false, &answerError{fmt.Sprintf("GET %s: the object has no id at %q", safeTemplateURL(target), l.IDPath)}
	}
	return id, true, nil
}
