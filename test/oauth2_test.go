package test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

// authenticate signs in with SASL mechanism mech and its initial response
// ir, sent with the command (SASL-IR), and answers an error challenge the
// way XOAUTH2 and OAUTHBEARER clients do; it returns the tagged answer.
func (c *Raw) authenticate(mech, ir, errorAnswer string) (string, error) {
	c.tag++
	tag := fmt.Sprintf("H%d", c.tag)
	if _, err := fmt.Fprintf(c.conn, "%s AUTHENTICATE %s %s\r\n", tag, mech, base64.StdEncoding.EncodeToString([]byte(ir))); err != nil {
		return "", err
	}
	for {
		resp, err := c.readResponse()
		if err != nil {
			return "", err
		}
		switch {
		case strings.HasPrefix(resp, "+"):
			if _, err := fmt.Fprintf(c.conn, "%s\r\n", errorAnswer); err != nil {
				return "", err
			}
		case strings.HasPrefix(resp, tag+" "):
			return strings.TrimPrefix(resp, tag+" "), nil
		}
	}
}

// A Dovecot with OAuth2 takes the tokens the test's introspection
// endpoint says are active, with XOAUTH2 and OAUTHBEARER, refuses the
// others, and still takes passwords.
func TestDovecotOAuth2(t *testing.T) {
	ti := StartTokenIntrospection(t)
	s := StartDovecotWith(t, DovecotOptions{OAuth2: ti})
	u := s.NewUser(t)
	token := ti.Issue(u)
	other := s.NewUser(t)
	otherToken := ti.Issue(other)
	revoked := ti.Issue(u)
	ti.Revoke(revoked)
	xoauth2 := func(token string) string { return "user=" + u.Name + "\x01auth=Bearer " + token + "\x01\x01" }
	oauthbearer := func(token string) string {
		return "n,a=" + u.Name + ",\x01host=127.0.0.1\x01port=993\x01auth=Bearer " + token + "\x01\x01"
	}
	for _, tc := range []struct {
		name, mech, ir, errorAnswer string
		ok                          bool
	}{
		{"xoauth2", "XOAUTH2", xoauth2(token), "", true},
		{"oauthbearer", "OAUTHBEARER", oauthbearer(token), "AQ==", true},
		{"xoauth2 revoked", "XOAUTH2", xoauth2(revoked), "", false},
		{"oauthbearer revoked", "OAUTHBEARER", oauthbearer(revoked), "AQ==", false},
		{"another user's token", "XOAUTH2", xoauth2(otherToken), "", false},
		{"unknown token", "XOAUTH2", xoauth2("tok-made-up"), "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := DialRaw(s, ImplicitTLS)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			done, err := c.authenticate(tc.mech, tc.ir, tc.errorAnswer)
			if err != nil {
				t.Fatal(err)
			}
			if ok := strings.HasPrefix(done, "OK"); ok != tc.ok {
				t.Errorf("AUTHENTICATE %s: %s\n%s", tc.mech, done, s.LogTail())
			}
			if !tc.ok && !strings.Contains(done, "[AUTHENTICATIONFAILED]") {
				t.Errorf("refusal without [AUTHENTICATIONFAILED]: %s", done)
			}
		})
	}
	if ti.Asked(token) != 2 {
		t.Errorf("the endpoint was asked %d times about the token, want 2", ti.Asked(token))
	}
	c, err := DialRaw(s, ImplicitTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(u); err != nil {
		t.Errorf("password: %v", err)
	}
}
