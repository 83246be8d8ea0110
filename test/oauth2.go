package test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
)

// TokenIntrospection is an OAuth2 token-introspection endpoint (RFC 7662)
// run by the test, the one a Dovecot started with DovecotOptions.OAuth2
// asks about every token it is given (XOAUTH2, OAUTHBEARER): a token the
// test issued and has not revoked is active and names its user; any other
// is inactive, and the sign-in is refused.
type TokenIntrospection struct {
	URL string // where Dovecot POSTs token=...

	srv    *httptest.Server
	mu     sync.Mutex
	tokens map[string]string // active token → user name
	asked  map[string]int    // token → how many times it was asked about
}

// StartTokenIntrospection starts an endpoint on loopback; it stops when
// the test ends.
func StartTokenIntrospection(t T) *TokenIntrospection {
	t.Helper()
	ti := &TokenIntrospection{tokens: map[string]string{}, asked: map[string]int{}}
	ti.srv = httptest.NewServer(http.HandlerFunc(ti.introspect))
	ti.URL = ti.srv.URL + "/introspect"
	t.Cleanup(ti.srv.Close)
	return ti
}

func (ti *TokenIntrospection) introspect(w http.ResponseWriter, r *http.Request) {
	token := r.PostFormValue("token")
	ti.mu.Lock()
	user, active := ti.tokens[token]
	ti.asked[token]++
	ti.mu.Unlock()
	answer := map[string]any{"active": false}
	if active {
		answer = map[string]any{"active": true, "username": user}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(answer)
}

// Issue makes a new token for u, active until revoked.
func (ti *TokenIntrospection) Issue(u User) string {
	b := make([]byte, 16)
	rand.Read(b)
	token := "tok-" + hex.EncodeToString(b)
	ti.mu.Lock()
	ti.tokens[token] = u.Name
	ti.mu.Unlock()
	return token
}

// Revoke makes token inactive, as if it had expired.
func (ti *TokenIntrospection) Revoke(token string) {
	ti.mu.Lock()
	delete(ti.tokens, token)
	ti.mu.Unlock()
}

// Asked is how many times the server asked about token.
func (ti *TokenIntrospection) Asked(token string) int {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	return ti.asked[token]
}
