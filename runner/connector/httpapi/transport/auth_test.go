package transport

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

const (
	token    = "tok-9f8e7d6c5b4a"
	password = "hunter2-correct-horse"
)

func TestAuthHeaders(t *testing.T) {
	tests := []struct {
		name   string
		auth   *Auth
		header string
		want   string
	}{
		{name: "bearer", auth: BearerAuth(token), header: "Authorization", want: "Bearer " + token},
		{name: "basic", auth: BasicAuth("alice", password), header: "Authorization",
			want: "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:"+password))},
		{name: "api key in X-API-Key", auth: APIKeyAuth("X-API-Key", token), header: "X-API-Key", want: token},
		{name: "api key in a named header", auth: APIKeyAuth("X-Billing-Key", token), header: "X-Billing-Key", want: token},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			var got http.Header
			srv, c, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r.Header.Clone()
				_, _ = w.Write([]byte(`{}`))
			}), Options{Auth: tt.auth, Headers: map[string]string{"X-Tenant": "acme", tt.header: "overridden?"}, Retry: testRetry})
			_, err := c.Do(context.Background(), Request{URL: srv.URL})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got.Get(tt.header)).To(Equal(tt.want))
			g.Expect(got.Get("X-Tenant")).To(Equal("acme"))
			g.Expect(got.Get("Accept")).To(Equal("application/json"))

			// the credential does not print, whatever the verb
			for _, s := range []string{tt.auth.String(), fmt.Sprintf("%v %+v %#v %s", tt.auth, tt.auth, tt.auth, tt.auth)} {
				g.Expect(s).NotTo(ContainSubstring(token))
				g.Expect(s).NotTo(ContainSubstring(password))
			}
		})
	}
}

func TestNewAuth(t *testing.T) {
	tests := []struct {
		name    string
		cfg     AuthConfig
		want    string
		wantErr string
	}{
		{name: "bearer", cfg: AuthConfig{Type: "Bearer", Secret: token}, want: "auth(Bearer)"},
		{name: "basic", cfg: AuthConfig{Type: "Basic", Username: "alice", Secret: password}, want: "auth(Basic)"},
		{name: "basic without user", cfg: AuthConfig{Type: "Basic", Secret: password}, wantErr: "username is required for Basic auth"},
		{name: "api key", cfg: AuthConfig{Type: "APIKey", Header: "X-K", Secret: token}, want: "auth(APIKey)"},
		{name: "api key without header", cfg: AuthConfig{Type: "APIKey", Secret: token}, wantErr: "header is required for APIKey auth"},
		{name: "empty secret", cfg: AuthConfig{Type: "Bearer"}, wantErr: "secret is empty"},
		{name: "unknown type", cfg: AuthConfig{Type: "Digest", Secret: token}, wantErr: `type must be Bearer, Basic or APIKey, not "Digest"`},
	}
	for _, tt := range tests {
		g := NewWithT(t)
		a, err := NewAuth(tt.cfg)
		// neither the config nor its error prints a credential, whatever the verb
		printed := fmt.Sprintf("%v %+v %#v %s", tt.cfg, tt.cfg, tt.cfg, tt.cfg)
		if err != nil {
			printed += err.Error()
		}
		g.Expect(printed).NotTo(ContainSubstring(token), tt.name)
		g.Expect(printed).NotTo(ContainSubstring(password), tt.name)
		if tt.wantErr != "" {
			g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)), tt.name)
			g.Expect(tt.cfg.Validate()).To(MatchError(err.Error()), tt.name)
			continue
		}
		g.Expect(err).NotTo(HaveOccurred(), tt.name)
		g.Expect(a.String()).To(Equal(tt.want), tt.name)
	}
	NewWithT(t).Expect((*Auth)(nil).String()).To(Equal("auth(none)"))
}

// TestCredentialsNeverInErrors: neither a bearer token, a basic password nor a query
// string appears in an error, even when the server echoes the request's headers back.
func TestCredentialsNeverInErrors(t *testing.T) {
	echo := func(code int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			fmt.Fprintf(w, `{"message":"denied for %s / %s / query %s"}`, r.Header.Get("Authorization"), r.Header.Get("X-API-Key"), r.URL.RawQuery)
		}
	}
	plain := func(code int) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
	}
	auths := map[string]*Auth{"bearer": BearerAuth(token), "basic": BasicAuth("alice", password), "apikey": APIKeyAuth("X-API-Key", token)}
	for name, auth := range auths {
		for _, h := range []struct {
			name    string
			handler http.Handler
		}{{"echo 401", echo(401)}, {"echo 500", echo(500)}, {"plain 403", plain(403)}, {"echo 429", echo(429)}} {
			t.Run(name+" "+h.name, func(t *testing.T) {
				g := NewWithT(t)
				srv, c, _ := serve(t, h.handler, Options{Auth: auth, Retry: attempts(2)})
				_, err := c.Do(context.Background(), Request{URL: srv.URL + "/v1/things?api_key=querysecret&page_token=pagetok123"})
				g.Expect(err).To(HaveOccurred())
				msg := err.Error() + fmt.Sprintf(" %+v %#v", err, err)
				for _, secret := range []string{token, password, base64.StdEncoding.EncodeToString([]byte("alice:" + password)), "querysecret", "pagetok123"} {
					g.Expect(msg).NotTo(ContainSubstring(secret))
				}
				g.Expect(msg).To(ContainSubstring("GET " + srv.URL + "/v1/things"))
				var se *StatusError
				g.Expect(errors.As(err, &se)).To(BeTrue())
				if strings.HasPrefix(h.name, "echo") {
					g.Expect(se.Message).To(ContainSubstring("denied for"))
					g.Expect(se.Message).To(ContainSubstring("[redacted]"))
				}
			})
		}
	}
}

func TestAPIMessageIsShortAndOnOneLine(t *testing.T) {
	g := NewWithT(t)
	long := strings.Repeat("é", 400)
	g.Expect(apiMessage([]byte(`{"errors":[{"detail":"line1\nline2"}]}`), nil)).To(Equal("line1 line2"))
	g.Expect(apiMessage([]byte(`{"error":"invalid_grant","error_description":"expired"}`), nil)).To(Equal("expired"))
	g.Expect(apiMessage([]byte("<html>oops</html>"), nil)).To(Equal("<html>oops</html>"))
	m := apiMessage([]byte(long), nil)
	g.Expect(len(m)).To(BeNumerically("<=", MaxMessageLen+len("…")))
	g.Expect(strings.ToValidUTF8(m, "?")).To(Equal(m))
}

func TestRedirectToAnotherHostIsNotFollowed(t *testing.T) {
	g := NewWithT(t)
	var leaked http.Header
	other, _, _ := serve(t, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { leaked = r.Header.Clone() }), Options{Retry: testRetry})
	// 127.0.0.1 and localhost are different hosts to the client
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	srv, c, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/same" {
			_, _ = w.Write([]byte(`{}`))
			return
		}
		if r.URL.Path == "/local" {
			http.Redirect(w, r, "/same", http.StatusFound)
			return
		}
		http.Redirect(w, r, otherURL+"/steal", http.StatusTemporaryRedirect)
	}), Options{Auth: APIKeyAuth("X-API-Key", token), Retry: testRetry})

	_, err := c.Do(context.Background(), Request{URL: srv.URL + "/local"})
	g.Expect(err).NotTo(HaveOccurred())

	_, err = c.Do(context.Background(), Request{URL: srv.URL + "/away"})
	var se *StatusError
	g.Expect(errors.As(err, &se)).To(BeTrue())
	g.Expect(se.Code).To(Equal(http.StatusTemporaryRedirect))
	g.Expect(se.Message).To(ContainSubstring("redirect not followed"))
	g.Expect(leaked).To(BeNil())
}
