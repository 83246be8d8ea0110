package imapclient

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
)

// Plain is SASL PLAIN (RFC 4616): authorization identity (usually empty),
// user and password in the initial response.
func Plain(authzid, user, password string) SASLMechanism {
	return &staticMech{name: "PLAIN", ir: []byte(authzid + "\x00" + user + "\x00" + password)}
}

// XOAUTH2 is Google's and Microsoft's OAuth 2.0 mechanism.
func XOAUTH2(user, token string) SASLMechanism {
	return &staticMech{name: "XOAUTH2", ir: []byte("user=" + user + "\x01auth=Bearer " + token + "\x01\x01"),
		// On failure the server sends a JSON error as a challenge, to which
		// the client answers empty to receive the tagged NO.
		onChallenge: func([]byte) ([]byte, error) { return nil, nil }}
}

// OAuthBearer is OAUTHBEARER (RFC 7628).
func OAuthBearer(user, host string, port int, token string) SASLMechanism {
	ir := fmt.Sprintf("n,a=%s,\x01host=%s\x01port=%d\x01auth=Bearer %s\x01\x01", saslName(user), host, port, token)
	return &staticMech{name: "OAUTHBEARER", ir: []byte(ir),
		// RFC 7628 3.2.2: answer an error challenge with a dummy ^A.
		onChallenge: func([]byte) ([]byte, error) { return []byte{1}, nil }}
}

// saslName escapes "," and "=" in a GS2 authorization identity.
func saslName(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ',':
			out = append(out, "=2C"...)
		case '=':
			out = append(out, "=3D"...)
		default:
			out = append(out, s[i])
		}
	}
	return string(out)
}

// staticMech sends one initial response.
type staticMech struct {
	name        string
	ir          []byte
	onChallenge func([]byte) ([]byte, error)
}

func (m *staticMech) Name() string                 { return m.name }
func (m *staticMech) Start() ([]byte, bool, error) { return m.ir, true, nil }
func (m *staticMech) Next(ch []byte) ([]byte, error) {
	if m.onChallenge != nil {
		return m.onChallenge(ch)
	}
	return nil, errors.New("imap: unexpected SASL challenge for " + m.name)
}

// Login is the non-standard but widespread SASL LOGIN: the user and the
// password, each as the answer to a challenge.
func Login(user, password string) SASLMechanism {
	return &loginMech{answers: [][]byte{[]byte(user), []byte(password)}}
}

type loginMech struct{ answers [][]byte }

func (m *loginMech) Name() string                 { return "LOGIN" }
func (m *loginMech) Start() ([]byte, bool, error) { return nil, false, nil }
func (m *loginMech) Next([]byte) ([]byte, error) {
	if len(m.answers) == 0 {
		return nil, errors.New("imap: SASL LOGIN: more challenges than expected")
	}
	a := m.answers[0]
	m.answers = m.answers[1:]
	return a, nil
}

// CRAMMD5 is SASL CRAM-MD5 (RFC 2195): the password never crosses the
// wire, but the server must know it in the clear.
func CRAMMD5(user, password string) SASLMechanism {
	return &cramMD5{user: user, password: password}
}

type cramMD5 struct{ user, password string }

func (m *cramMD5) Name() string                 { return "CRAM-MD5" }
func (m *cramMD5) Start() ([]byte, bool, error) { return nil, false, nil }
func (m *cramMD5) Next(challenge []byte) ([]byte, error) {
	mac := hmac.New(md5.New, []byte(m.password))
	mac.Write(challenge)
	return []byte(m.user + " " + hex.EncodeToString(mac.Sum(nil))), nil
}
