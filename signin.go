package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"imapfs/imapclient"
	"imapfs/imapclient/imapwire"
	"imapfs/mountopts"
)

// signIn logs c in as cfg.Server.User with the mechanism --auth names, or
// the best the server offers for the credential given: the password pass,
// or, with --oauth-token-command, a token the command prints now. The
// command runs for every sign-in, so that each new connection (a
// reconnect too) gets a token that has not expired; none is kept.
func signIn(ctx context.Context, c *imapclient.Client, cfg *mountopts.Config, pass string) error {
	caps := c.Capabilities()
	if caps == nil {
		var err error
		if caps, err = c.Capability(ctx); err != nil {
			return err
		}
	}
	token := cfg.OAuthTokenCommand != ""
	mech, err := chooseAuth(caps, cfg.Auth, token)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Server.Address(), err)
	}
	credential := "password"
	if token {
		credential = "OAuth2 token"
		if pass, err = oauthToken(ctx, cfg.OAuthTokenCommand); err != nil {
			return err
		}
	}
	user := cfg.Server.User
	switch mech {
	case "login":
		err = c.Login(ctx, user, pass)
	case "plain":
		err = c.Authenticate(ctx, imapclient.Plain("", user, pass))
	case "cram-md5":
		err = c.Authenticate(ctx, imapclient.CRAMMD5(user, pass))
	case "xoauth2":
		err = c.Authenticate(ctx, imapclient.XOAUTH2(user, pass))
	case "oauthbearer":
		err = c.Authenticate(ctx, imapclient.OAuthBearer(user, cfg.Server.Host, cfg.Server.Port, pass))
	}
	var no *imapclient.StatusError
	if errors.As(err, &no) && no.Type == "NO" {
		return &refusedError{credential: credential, user: user, no: no}
	}
	return err
}

// chooseAuth is the mechanism to sign in with: want (one of
// mountopts.AuthMechanisms) if the server offers it, or, when want is "",
// the best it offers for the credential: for a token OAUTHBEARER (the
// standard one), else XOAUTH2; for a password AUTHENTICATE PLAIN (any
// character goes, in one round trip with SASL-IR), else LOGIN.
func chooseAuth(caps imapclient.Capabilities, want string, token bool) (string, error) {
	if want != "" {
		if !offersAuth(caps, want) {
			return "", fmt.Errorf("the server does not offer --auth %s (it offers %s)", want, offeredAuth(caps))
		}
		return want, nil
	}
	best := []string{"plain", "login"}
	if token {
		best = []string{"oauthbearer", "xoauth2"}
	}
	for _, mech := range best {
		if offersAuth(caps, mech) {
			return mech, nil
		}
	}
	if token {
		return "", fmt.Errorf("the server offers no sign-in with an OAuth2 token, neither OAUTHBEARER nor XOAUTH2 (it offers %s)", offeredAuth(caps))
	}
	return "", fmt.Errorf("the server offers no sign-in with a password here, neither AUTH=PLAIN nor LOGIN (it offers %s)", offeredAuth(caps))
}

// offersAuth reports whether the server offers mech: "login" is the LOGIN
// command, which every server has unless it says LOGINDISABLED; the
// others are SASL mechanisms, announced as AUTH=NAME.
func offersAuth(caps imapclient.Capabilities, mech string) bool {
	if mech == "login" {
		return !caps.Has("LOGINDISABLED")
	}
	return caps.Has("AUTH=" + strings.ToUpper(mech))
}

// offeredAuth lists the --auth values the server offers, for an error.
func offeredAuth(caps imapclient.Capabilities) string {
	var offered []string
	for _, mech := range mountopts.AuthMechanisms {
		if offersAuth(caps, mech) {
			offered = append(offered, mech)
		}
	}
	if len(offered) == 0 {
		return "none of " + strings.Join(mountopts.AuthMechanisms, ", ")
	}
	return strings.Join(offered, ", ")
}

// tokenCommandGrace is how long a token command whose sign-in was given up
// may keep its output open (a child of its own still running) before
// imapfs stops waiting for it.
const tokenCommandGrace = time.Second

// oauthToken runs --oauth-token-command and returns the first line it
// prints. Helpers such as oama print the token they hold while it is
// valid and a refreshed one when it expired.
func oauthToken(ctx context.Context, command string) (string, error) {
	cmd := helperCommand(ctx, command)
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = tokenCommandGrace
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("--oauth-token-command: %w", err)
	}
	token := strings.TrimSpace(firstLine(string(out)))
	if token == "" {
		return "", errors.New("--oauth-token-command printed no token")
	}
	return token, nil
}

// refusedError is the server's NO to a sign-in, in one line that says
// what it refused and why: "the server refused the OAuth2 token for
// alice: [AUTHENTICATIONFAILED] Authentication failed."
type refusedError struct {
	credential string // "password" or "OAuth2 token"
	user       string
	no         *imapclient.StatusError
}

func (e *refusedError) Error() string {
	said := e.no.Text
	if code := e.no.Code; code != nil {
		said = strings.TrimSpace("[" + strings.TrimSpace(code.Name+" "+code.Raw) + "] " + said)
	}
	// A NO about the connection (too many of them, the server busy) is
	// not about the credential.
	if e.no.Code != nil && !slices.Contains([]string{imapwire.CodeAuthenticationFailed, imapwire.CodeAuthorizationFailed, imapwire.CodeExpired}, e.no.Code.Name) {
		return fmt.Sprintf("the server refused the sign-in of %s: %s", e.user, said)
	}
	return fmt.Sprintf("the server refused the %s for %s: %s", e.credential, e.user, said)
}

// Unwrap lets the pool tell a refusal (imapclient.ErrNo) from a network
// failure.
func (e *refusedError) Unwrap() error { return e.no }
