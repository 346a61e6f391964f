// Package transport is the HTTP client shared by the HTTP source and sink: credentials
// from Secrets, a client-side token bucket shared by the run, retries with capped
// exponential backoff and jitter on 429, 5xx and network errors only, and the servers'
// Retry-After and RateLimit-* headers. Errors name the method, the URL path, the status
// and the API's message; never a header, a query string or a credential.
package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// DefaultMaxBodyBytes bounds a response body read by the client.
const DefaultMaxBodyBytes = 64 << 20

// maxErrorBody bounds how much of an error response is read for its message.
const maxErrorBody = 64 << 10

// maxRedirects bounds the redirects followed within one host.
const maxRedirects = 10

// Options configure a Client. Retry must be a valid policy; every other field may be left
// zero: no auth, no extra headers, no rate limit, the system clock.
type Options struct {
	// Auth is the credential sent with every request; nil sends none.
	Auth *Auth
	// Headers are added to every request. Auth takes precedence.
	Headers map[string]string
	// Retry bounds the attempts of each request (required; see RetryPolicy.Validate).
	Retry RetryPolicy
	// Limiter is the run's token bucket, shared by every client of the run; nil is no
	// client-side limit. Clients sharing a limiter must share the Clock.
	Limiter *rate.Limiter
	// Budget is the run's bound on the waits before retries, shared by every client of the
	// run (source and sink), which must then share the Clock; nil gives the client a budget
	// of its own of Retry.MaxTotalWait.
	Budget *WaitBudget
	// Clock does every wait; defaults to SystemClock.
	Clock Clock
	// Jitter randomises backoffs; defaults to RandomJitter.
	Jitter Jitter
	// HTTPClient sends the requests; defaults to a client with its own connection pool.
	// Its CheckRedirect is replaced: redirects are only followed within the same scheme and
	// host, so credentials never leave for another server.
	HTTPClient *http.Client
	// MaxBodyBytes bounds a response body (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// UserAgent of every request (default "checkpointed-runner").
	UserAgent string
	// Logger receives retries at V(1). It never receives a header, a query or a body.
	Logger logr.Logger
}

// Client sends requests with auth, rate limiting and retries. It is safe for concurrent
// use.
type Client struct {
	hc      *http.Client
	auth    *Auth
	headers http.Header
	retry   RetryPolicy
	limiter *rate.Limiter
	clock   Clock
	jitter  Jitter
	maxBody int64
	log     logr.Logger
	secrets []string

	mu sync.Mutex
	// blockedUntil is when the server said its quota resets (Retry-After, or
	// RateLimit-Remaining: 0 with a reset); no request of this client starts before.
	blockedUntil time.Time
	// blockedBy is the status of the answer that set blockedUntil: 429 for a quota (a
	// 429's Retry-After, an exhausted RateLimit-* quota), else the 5xx whose Retry-After
	// it was. A request that cannot wait that long fails with it.
	blockedBy int
	// budget bounds the waits before retries (Options.Budget).
	budget *WaitBudget

	stats counters
}

type counters struct {
	requests, tooMany, serverErrors, networkErrors, retries, waitedNanos atomic.Int64
}

// Stats are a client's counters since it was made.
type Stats struct {
	// Requests is the number of attempts sent (retries included).
	Requests int64
	// TooManyRequests is the number of 429 answers received.
	TooManyRequests int64
	// ServerErrors is the number of 5xx answers received.
	ServerErrors int64
	// NetworkErrors is the number of attempts that got no answer.
	NetworkErrors int64
	// Retries is the number of attempts after a first one.
	Retries int64
	// Waited is the total time spent waiting: backoff, server hints and the token bucket.
	Waited time.Duration
}

// New makes a client; it refuses an invalid retry policy, naming the field.
func New(opts Options) (*Client, error) {
	if err := opts.Retry.Validate(); err != nil {
		return nil, fmt.Errorf("retry: %w", err)
	}
	c := &Client{
		auth:    opts.Auth,
		headers: http.Header{},
		retry:   opts.Retry.withTunables(),
		limiter: opts.Limiter,
		clock:   opts.Clock,
		jitter:  opts.Jitter,
		maxBody: opts.MaxBodyBytes,
		log:     opts.Logger,
		budget:  opts.Budget,
	}
	if c.budget == nil {
		c.budget, _ = NewWaitBudget(c.retry.MaxTotalWait) // positive: the policy is valid
	}
	for k, v := range opts.Headers {
		c.headers.Set(k, v)
	}
	ua := opts.UserAgent
	if ua == "" {
		ua = "checkpointed-runner"
	}
	c.headers.Set("User-Agent", ua)
	if c.clock == nil {
		c.clock = SystemClock{}
	}
	if c.jitter == nil {
		c.jitter = RandomJitter
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxBodyBytes
	}
	if opts.Auth != nil {
		c.secrets = opts.Auth.secrets
	}
	if opts.HTTPClient != nil {
		hc := *opts.HTTPClient
		c.hc = &hc
	} else {
		c.hc = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	c.hc.CheckRedirect = sameHostRedirect
	return c, nil
}

// sameHostRedirect follows redirects only within the first request's scheme and host.
func sameHostRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects || req.URL.Host != via[0].URL.Host || req.URL.Scheme != via[0].URL.Scheme {
		return http.ErrUseLastResponse
	}
	return nil
}

// Stats returns the counters.
func (c *Client) Stats() Stats {
	return Stats{
		Requests:        c.stats.requests.Load(),
		TooManyRequests: c.stats.tooMany.Load(),
		ServerErrors:    c.stats.serverErrors.Load(),
		NetworkErrors:   c.stats.networkErrors.Load(),
		Retries:         c.stats.retries.Load(),
		Waited:          time.Duration(c.stats.waitedNanos.Load()),
	}
}

// Redact replaces every credential of the client's Auth in s by "[redacted]". Callers
// that put an API's text into a record error pass it through here.
func (c *Client) Redact(s string) string { return redact(s, c.secrets, MaxMessageLen) }

// Request is one HTTP request.
type Request struct {
	// Method defaults to GET.
	Method string
	// URL is absolute; it may carry a query.
	URL string
	// Query values are set on the URL's query (replacing values of the same name).
	Query url.Values
	// Header is added to the client's headers (auth cannot be overridden).
	Header http.Header
	// Body is sent as is; JSON, when not nil, is encoded instead and sent as
	// application/json.
	Body []byte
	// JSON is a value to encode as the body.
	JSON any
	// Accept lists non-2xx statuses returned as a Response rather than an error (for
	// example 404 for a lookup). They are never retried.
	Accept []int
	// NotIdempotent limits retries on network errors to failed dials, where the server
	// cannot have seen the request (429 and 5xx are still retried: a 429 was not processed;
	// a 5xx is the server's word that it failed).
	NotIdempotent bool
}

// Response is an accepted answer with its body read.
type Response struct {
	// Status code.
	Status int
	// Header of the answer.
	Header http.Header
	// Body, at most the client's MaxBodyBytes.
	Body []byte
}

// JSON decodes the body with exact numbers (see DecodeJSON).
func (r *Response) JSON() (any, error) { return DecodeJSON(r.Body) }

// GetJSON sends a GET and decodes the answer (see DecodeJSON).
func (c *Client) GetJSON(ctx context.Context, rawURL string, query url.Values) (any, *Response, error) {
	resp, err := c.Do(ctx, Request{URL: rawURL, Query: query})
	if err != nil {
		return nil, nil, err
	}
	doc, err := resp.JSON()
	if err != nil {
		u, _ := url.Parse(rawURL)
		return nil, resp, fmt.Errorf("GET %s: %w", safeURL(u), err)
	}
	return doc, resp, nil
}

// Do sends the request, retrying 429, 5xx and network errors within the retry budget and
// honouring Retry-After and RateLimit-* headers. It returns the answer when its status is
// 2xx or listed in req.Accept. Otherwise the error is a *StatusError (a 429 one matches
// connector.ErrRateLimited), a network error after the last attempt, or the context's
// error. No error holds a header, a query string or a credential.
func (c *Client) Do(ctx context.Context, req Request) (*Response, error) {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	u, err := url.Parse(req.URL)
	if err != nil || !u.IsAbs() {
		return nil, fmt.Errorf("%s: the URL is not absolute", method)
	}
	if len(req.Query) > 0 {
		q := u.Query()
		for k, vs := range req.Query {
			q[k] = vs
		}
		u.RawQuery = q.Encode()
	}
	where := method + " " + safeURL(u)
	body := req.Body
	header := c.headers.Clone()
	for k, vs := range req.Header {
		header[http.CanonicalHeaderKey(k)] = vs
	}
	if req.JSON != nil {
		if body, err = EncodeJSON(req.JSON); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		header.Set("Content-Type", "application/json")
	}
	if header.Get("Accept") == "" {
		header.Set("Accept", "application/json")
	}
	c.auth.apply(header)

	for attempt := 1; ; attempt++ {
		if err := c.waitTurn(ctx, method, u, where); err != nil {
			return nil, err
		}
		c.stats.requests.Add(1)
		resp, err := c.send(ctx, method, u, header, body)
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%s: %w", where, ctx.Err())
			}
			if errors.Is(err, errBodyTooLarge) || !retryableNetErr(err, req.NotIdempotent) {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			c.stats.networkErrors.Add(1)
			if attempt >= c.retry.MaxAttempts {
				return nil, &NetworkError{Where: where, Err: err, Attempts: attempt}
			}
			wait = c.retry.backoff(attempt, c.jitter)
			if note, ok := c.spend(c.clock.Now(), wait); !ok {
				return nil, &NetworkError{Where: where, Err: err, Attempts: attempt, Note: note}
			}
			c.log.V(1).Info("retrying request after a network error", "request", where, "attempt", attempt, "wait", wait, "error", err.Error())
		default:
			now := c.clock.Now()
			if reset, exhausted, ok := rateLimitReset(resp.Header, now); ok && exhausted {
				c.block(reset, http.StatusTooManyRequests)
			}
			if resp.Status/100 == 2 || slices.Contains(req.Accept, resp.Status) {
				return resp, nil
			}
			retryable := resp.Status == http.StatusTooManyRequests || resp.Status/100 == 5
			if !retryable {
				return nil, c.statusError(method, u, resp, attempt, "")
			}
			if resp.Status == http.StatusTooManyRequests {
				c.stats.tooMany.Add(1)
			} else {
				c.stats.serverErrors.Add(1)
			}
			if attempt >= c.retry.MaxAttempts {
				return nil, c.statusError(method, u, resp, attempt, "")
			}
			hint, hinted := c.serverHint(resp, now)
			if hinted && hint > c.retry.MaxWait {
				return nil, c.statusError(method, u, resp, attempt,
					fmt.Sprintf("the server asks to wait %s, longer than %s", hint.Round(time.Second), c.retry.MaxWait))
			}
			if hinted {
				wait = hint
			} else {
				wait = c.retry.backoff(attempt, c.jitter)
			}
			if note, ok := c.spend(now, wait); !ok {
				return nil, c.statusError(method, u, resp, attempt, note)
			}
			if hinted {
				c.block(now.Add(hint), resp.Status)
			}
			c.log.V(1).Info("retrying request", "request", where, "status", resp.Status, "attempt", attempt, "wait", wait, "serverHint", hinted)
		}
		c.stats.retries.Add(1)
		if err := c.sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
	}
}

// serverHint is how long the server asked to wait before retrying: Retry-After, else for
// a 429 the RateLimit-Reset / X-RateLimit-Reset time.
func (c *Client) serverHint(resp *Response, now time.Time) (time.Duration, bool) {
	if d, ok := retryAfter(resp.Header, now); ok {
		return d, true
	}
	if resp.Status == http.StatusTooManyRequests {
		if reset, _, ok := rateLimitReset(resp.Header, now); ok {
			return reset.Sub(now), true
		}
	}
	return 0, false
}

// block keeps every request of the client from starting before t, as an answer of status
// asked.
func (c *Client) block(t time.Time, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.blockedUntil) {
		c.blockedUntil, c.blockedBy = t, status
	}
}

// waitTurn waits until the server's quota reset (if one is pending) and for a token. A
// request that cannot wait that long fails as the answer that asked for the wait: a 5xx
// with its status (reason HTTP503), a quota as connector.ErrRateLimited.
func (c *Client) waitTurn(ctx context.Context, method string, u *url.URL, where string) error {
	c.mu.Lock()
	until, by := c.blockedUntil, c.blockedBy
	c.mu.Unlock()
	now := c.clock.Now()
	if d := until.Sub(now); d > 0 {
		note := ""
		if d > c.retry.MaxWait {
			note = fmt.Sprintf("longer than %s", c.retry.MaxWait)
		} else if n, ok := c.spend(now, d); !ok {
			note = n
		}
		if note != "" {
			if by != http.StatusTooManyRequests {
				return &StatusError{Method: method, URL: safeURL(u), Code: by,
					Message: fmt.Sprintf("the server asked to wait %s before the next request: %s", d.Round(time.Second), note)}
			}
			return fmt.Errorf("%s: the server's rate limit resets in %s, %s: %w", where, d.Round(time.Second), note, connector.ErrRateLimited)
		}
		if err := c.sleep(ctx, d); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
	}
	if c.limiter == nil {
		return nil
	}
	now = c.clock.Now()
	r := c.limiter.ReserveN(now, 1)
	if !r.OK() {
		return fmt.Errorf("%s: the rate limit allows no request (burst 0)", where)
	}
	if d := r.DelayFrom(now); d > 0 {
		if err := c.sleep(ctx, d); err != nil {
			r.CancelAt(c.clock.Now())
			return fmt.Errorf("%s: %w", where, err)
		}
	}
	return nil
}

// spend takes a wait of d starting at from from the retry-wait budget (Options.Budget,
// shared by the run's clients; overlapping waits count once), or reports, without taking
// it, why it does not fit.
func (c *Client) spend(from time.Time, d time.Duration) (string, bool) {
	return c.budget.spend(from, d)
}

func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	c.stats.waitedNanos.Add(int64(d))
	return c.clock.Sleep(ctx, d)
}

var errBodyTooLarge = errors.New("response body too large")

// send makes one attempt within the request timeout and reads the whole body.
func (c *Client) send(ctx context.Context, method string, u *url.URL, header http.Header, body []byte) (*Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.retry.RequestTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hreq, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, errors.New("invalid request")
	}
	hreq.Header = header.Clone()
	hresp, err := c.hc.Do(hreq)
	if err != nil {
		return nil, unwrapURLError(err)
	}
	defer hresp.Body.Close()
	limit := c.maxBody
	if hresp.StatusCode/100 != 2 {
		limit = maxErrorBody
	}
	data, err := io.ReadAll(io.LimitReader(hresp.Body, limit+1))
	if err != nil {
		return nil, unwrapURLError(err)
	}
	if int64(len(data)) > limit {
		if hresp.StatusCode/100 == 2 {
			return nil, fmt.Errorf("%w (more than %d bytes)", errBodyTooLarge, limit)
		}
		data = data[:limit]
	}
	return &Response{Status: hresp.StatusCode, Header: hresp.Header, Body: data}, nil
}

// unwrapURLError drops net/http's *url.Error, whose text holds the full URL (query
// included).
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (c *Client) statusError(method string, u *url.URL, resp *Response, attempts int, note string) *StatusError {
	secrets := append(querySecrets(u), c.secrets...)
	msg := apiMessage(resp.Body, secrets)
	body := redact(string(resp.Body), secrets, MaxBodyLen)
	if resp.Status/100 == 3 {
		msg = "redirect not followed (to another host, or too many)"
	}
	if note != "" {
		if msg != "" {
			msg += "; "
		}
		msg += note
	}
	return &StatusError{Method: method, URL: safeURL(u), Code: resp.Status, Message: msg, Body: body, Attempts: attempts}
}
