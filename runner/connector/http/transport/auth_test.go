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

	"github.com/checkpointed/checkpointed/api/v1alpha1"
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
		{name: "api key in the default header", auth: APIKeyAuth("", token), header: "X-API-Key", want: token},
		{name: "api key in a named header", auth: APIKeyAuth("X-Billing-Key", token), header: "X-Billing-Key", want: token},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			var got http.Header
			srv, c, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r.Header.Clone()
				_, _ = w.Write([]byte(`{}`))
			}), Options{Auth: tt.auth, Headers: map[string]string{"X-Tenant": "acme", tt.header: "overridden?"}})
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

func TestAuthFromSpec(t *testing.T) {
	secrets := map[string]string{"api/token": token, "api/user": "alice"}
	lookup := func(field string, ref v1alpha1.SecretKeyRef) (string, error) {
		v, ok := secrets[ref.Name+"/"+ref.Key]
		if !ok {
			return "", fmt.Errorf("%s: secret %s has no key %s", field, ref.Name, ref.Key)
		}
		return v, nil
	}
	ref := func(k string) v1alpha1.SecretKeyRef { return v1alpha1.SecretKeyRef{Name: "api", Key: k} }
	user := ref("user")
	tests := []struct {
		name    string
		spec    *v1alpha1.HTTPAuth
		want    string
		wantErr string
	}{
		{name: "none", spec: nil, want: "auth(none)"},
		{name: "bearer", spec: &v1alpha1.HTTPAuth{Type: "Bearer", Secret: ref("token")}, want: "auth(Bearer)"},
		{name: "basic", spec: &v1alpha1.HTTPAuth{Type: "Basic", Username: &user, Secret: ref("token")}, want: "auth(Basic)"},
		{name: "basic without user", spec: &v1alpha1.HTTPAuth{Type: "Basic", Secret: ref("token")}, wantErr: "spec.source.http.auth.username is required"},
		{name: "api key", spec: &v1alpha1.HTTPAuth{Type: "APIKey", Header: "X-K", Secret: ref("token")}, want: "auth(APIKey)"},
		{name: "missing secret", spec: &v1alpha1.HTTPAuth{Type: "Bearer", Secret: ref("nope")}, wantErr: "spec.source.http.auth.secret: secret api has no key nope"},
		{name: "unknown type", spec: &v1alpha1.HTTPAuth{Type: "Digest", Secret: ref("token")}, wantErr: `must be Bearer, Basic or APIKey, not "Digest"`},
	}
	for _, tt := range tests {
		g := NewWithT(t)
		a, err := AuthFromSpec("spec.source.http.auth", tt.spec, lookup)
		if tt.wantErr != "" {
			g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)), tt.name)
			continue
		}
		g.Expect(err).NotTo(HaveOccurred(), tt.name)
		g.Expect(a.String()).To(Equal(tt.want), tt.name)
	}
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
	auths := map[string]*Auth{"bearer": BearerAuth(token), "basic": BasicAuth("alice", password), "apikey": APIKeyAuth("", token)}
	for name, auth := range auths {
		for _, h := range []struct {
			name    string
			handler http.Handler
		}{{"echo 401", echo(401)}, {"echo 500", echo(500)}, {"plain 403", plain(403)}, {"echo 429", echo(429)}} {
			t.Run(name+" "+h.name, func(t *testing.T) {
				g := NewWithT(t)
				srv, c, _ := serve(t, h.handler, Options{Auth: auth, Retry: Retry{MaxAttempts: 2}})
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
	other, _, _ := serve(t, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { leaked = r.Header.Clone() }), Options{})
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
	}), Options{Auth: APIKeyAuth("", token)})

	_, err := c.Do(context.Background(), Request{URL: srv.URL + "/local"})
	g.Expect(err).NotTo(HaveOccurred())

	_, err = c.Do(context.Background(), Request{URL: srv.URL + "/away"})
	var se *StatusError
	g.Expect(errors.As(err, &se)).To(BeTrue())
	g.Expect(se.Code).To(Equal(http.StatusTemporaryRedirect))
	g.Expect(se.Message).To(ContainSubstring("redirect not followed"))
	g.Expect(leaked).To(BeNil())
}
