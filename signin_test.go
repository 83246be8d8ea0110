package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"imapfs/imapclient"
	"imapfs/mountopts"
	"imapfs/test"
)

// readFile is the whole content of the file at path, failing the test
// when it cannot be read.
func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// catMessage reads a message (MAILBOX/UID.eml) through the mount and
// checks its text.
func catMessage(t *testing.T, m *test.Mounted, name, want string) {
	t.Helper()
	out, err := exec.Command("cat", m.Dir+"/"+name).CombinedOutput()
	if err != nil || !strings.Contains(string(out), want) {
		t.Errorf("cat %s: %v %q", name, err, out)
	}
}

// Each password mechanism signs in, the default being AUTHENTICATE
// PLAIN, and the protocol trace names the mechanism but never shows the
// password.
func TestAuthPassword(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	s.Seed(t, u, "INBOX", test.Message{Body: []byte("Subject: hi\r\n\r\nhello\r\n")})
	for _, tc := range []struct {
		flags []string
		sent  string
	}{
		{nil, "AUTHENTICATE PLAIN <redacted>"},
		{[]string{"--auth", "plain"}, "AUTHENTICATE PLAIN <redacted>"},
		{[]string{"--auth", "login"}, "LOGIN <redacted>"},
		{[]string{"-o", "auth=cram-md5"}, "AUTHENTICATE CRAM-MD5 <redacted>"},
	} {
		t.Run(strings.Join(tc.flags, " "), func(t *testing.T) {
			m := test.Mount(t, s, u, append([]string{"-d"}, tc.flags...)...)
			catMessage(t, m, "INBOX/1.eml", "hello")
			m.Unmount(t)
			log := readFile(t, m.LogFile)
			if !strings.Contains(log, tc.sent) {
				t.Errorf("the log lacks %q:\n%s", tc.sent, m.Log())
			}
			if strings.Contains(log, u.Password) {
				t.Error("the log shows the password")
			}
		})
	}
}

// oauthServer is a Dovecot that takes OAuth2 tokens, with its
// introspection endpoint.
func oauthServer(t *testing.T) (*test.Server, *test.TokenIntrospection) {
	t.Helper()
	ti := test.StartTokenIntrospection(t)
	return test.StartDovecotWith(t, test.DovecotOptions{OAuth2: ti}), ti
}

// tokenCommand is an --oauth-token-command that prints the token the
// test writes with setToken, and counts how many times it ran.
type tokenCommand struct {
	dir string
}

func newTokenCommand(t *testing.T, token string) *tokenCommand {
	tc := &tokenCommand{dir: t.TempDir()}
	tc.setToken(t, token)
	return tc
}

func (tc *tokenCommand) setToken(t *testing.T, token string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(tc.dir, "token"), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (tc *tokenCommand) String() string {
	return fmt.Sprintf("echo ran >> %s/runs; cat %s/token", tc.dir, tc.dir)
}

// runs is how many times the command ran.
func (tc *tokenCommand) runs() int {
	data, _ := os.ReadFile(filepath.Join(tc.dir, "runs"))
	return strings.Count(string(data), "ran")
}

// With --oauth-token-command imapfs signs in with the token, by
// OAUTHBEARER when the server offers it or with the mechanism --auth
// names, and never with the password; the token is not in the log.
func TestAuthOAuth2(t *testing.T) {
	s, ti := oauthServer(t)
	u := s.NewUser(t)
	s.Seed(t, u, "INBOX", test.Message{Body: []byte("Subject: hi\r\n\r\nhello\r\n")})
	token := ti.Issue(u)
	tokens := newTokenCommand(t, token)
	// IMAPFS_PASSWORD holds a wrong password: it must not be what signs in.
	noPassword := test.User{Name: u.Name, Password: "not-the-password"}
	for _, tc := range []struct {
		name  string
		flags []string
		sent  string
	}{
		{"default", []string{"--oauth-token-command", tokens.String()}, "AUTHENTICATE OAUTHBEARER <redacted>"},
		{"xoauth2", []string{"--auth", "xoauth2", "--oauth-token-command", tokens.String()}, "AUTHENTICATE XOAUTH2 <redacted>"},
		{"oauthbearer", []string{"--auth", "oauthbearer", "--oauth-token-command", tokens.String()}, "AUTHENTICATE OAUTHBEARER <redacted>"},
		{"mount options", []string{"-o", "auth=xoauth2,oauth_token_command=" + tokens.String()}, "AUTHENTICATE XOAUTH2 <redacted>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asked := ti.Asked(token)
			m := test.Mount(t, s, noPassword, append([]string{"-d"}, tc.flags...)...)
			catMessage(t, m, "INBOX/1.eml", "hello")
			m.Unmount(t)
			log := readFile(t, m.LogFile)
			if !strings.Contains(log, tc.sent) {
				t.Errorf("the log lacks %q:\n%s", tc.sent, m.Log())
			}
			if strings.Contains(log, token) {
				t.Error("the log shows the token")
			}
			if ti.Asked(token) == asked {
				t.Error("the server was not asked about the token")
			}
		})
	}
	// In the background, with no password anywhere to find.
	t.Run("daemon", func(t *testing.T) {
		dir := emptyDir(t)
		test.TrackMount(t, dir)
		_, errOut, status := runImapfsEnv(t, []string{"XDG_STATE_HOME=" + t.TempDir()},
			"--ca-file", s.TLS.CAFile, "--oauth-token-command", tokens.String(), s.URL(u, true), dir)
		if status != 0 {
			t.Fatalf("status %d: %s", status, errOut)
		}
		defer exec.Command("fusermount3", "-u", dir).Run()
		out, err := exec.Command("cat", dir+"/INBOX/1.eml").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "hello") {
			t.Errorf("cat: %v %q", err, out)
		}
	})
}

// A token that expires between two connections: the next connection
// runs the command again and signs in with the fresh token it prints, and
// reads go on. A token refused on a reconnect is logged, and the read
// that needed the connection fails.
func TestOAuth2TokenRefreshed(t *testing.T) {
	s, ti := oauthServer(t)
	u := s.NewUser(t)
	// One mailbox for each connection, so that each read needs the
	// server (nothing of a mailbox not yet listed is cached).
	for _, mailbox := range []string{"First", "Second", "Third"} {
		s.CreateMailbox(t, u, mailbox)
		s.Seed(t, u, mailbox, test.Message{Body: []byte("Subject: hi\r\n\r\nin " + mailbox + "\r\n")})
	}
	first := ti.Issue(u)
	tokens := newTokenCommand(t, first)
	p := test.StartProxy(t, s.TLSAddr(), test.ProxyOptions{})
	m := test.Mount(t, s.Via(p), test.User{Name: u.Name}, "-d", "--connections", "1", "--oauth-token-command", tokens.String())
	catMessage(t, m, "First/1.eml", "in First")
	ranBefore := tokens.runs()

	ti.Revoke(first)
	second := ti.Issue(u)
	tokens.setToken(t, second)
	p.DropAll()
	catMessage(t, m, "Second/1.eml", "in Second")
	if tokens.runs() == ranBefore {
		t.Error("the token command did not run for the new connection")
	}
	if ti.Asked(second) == 0 {
		t.Error("the new connection did not sign in with the new token")
	}

	// The command goes on printing a token that is no longer valid.
	ti.Revoke(second)
	p.DropAll()
	if out, err := exec.Command("cat", m.Dir+"/Third/1.eml").CombinedOutput(); err == nil {
		t.Errorf("a read with a refused token succeeded: %q", out)
	}
	want := "the server refused the OAuth2 token for " + u.Name + ": [AUTHENTICATIONFAILED]"
	if !fileHas(m.LogFile, want) {
		t.Errorf("the log lacks %q:\n%s", want, m.Log())
	}
	m.Unmount(t)
	log := readFile(t, m.LogFile)
	if strings.Contains(log, first) || strings.Contains(log, second) {
		t.Error("the log shows a token")
	}
}

// A refused token, a mechanism the server does not offer, or a token
// command that fails is one line on stderr, a non-zero status, nothing
// mounted, and the token nowhere.
func TestOAuth2MountFailures(t *testing.T) {
	test.RequireFUSE(t)
	s, ti := oauthServer(t)
	u := s.NewUser(t)
	refused := ti.Issue(u)
	ti.Revoke(refused)
	valid := ti.Issue(u)
	plain := test.SharedDovecot(t)
	pu := plain.NewUser(t)
	for _, tc := range []struct {
		name   string
		server string
		ca     string
		flags  []string
		want   string
	}{
		{"refused token", s.URL(u, true), s.TLS.CAFile, []string{"--oauth-token-command", "echo " + refused},
			"imapfs: the server refused the OAuth2 token for " + u.Name + ": [AUTHENTICATIONFAILED] "},
		{"refused token, xoauth2", s.URL(u, true), s.TLS.CAFile, []string{"--auth", "xoauth2", "--oauth-token-command", "echo " + refused},
			"imapfs: the server refused the OAuth2 token for " + u.Name + ": [AUTHENTICATIONFAILED] "},
		{"no OAuth2", plain.URL(pu, true), plain.TLS.CAFile, []string{"--oauth-token-command", "echo " + valid},
			"imapfs: " + plain.TLSAddr() + ": the server offers no sign-in with an OAuth2 token, neither OAUTHBEARER nor XOAUTH2 (it offers plain, login, cram-md5)"},
		{"mechanism not offered", plain.URL(pu, true), plain.TLS.CAFile, []string{"--auth", "oauthbearer", "--oauth-token-command", "echo " + valid},
			"imapfs: " + plain.TLSAddr() + ": the server does not offer --auth oauthbearer (it offers plain, login, cram-md5)"},
		{"token command fails", s.URL(u, true), s.TLS.CAFile, []string{"--oauth-token-command", "exit 3"},
			"imapfs: --oauth-token-command: exit status 3"},
		{"no token printed", s.URL(u, true), s.TLS.CAFile, []string{"--oauth-token-command", "true"},
			"imapfs: --oauth-token-command printed no token"},
	} {
		for _, mode := range []string{"foreground", "daemon"} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				dir := emptyDir(t)
				args := append([]string{"--ca-file", tc.ca}, tc.flags...)
				if mode == "foreground" {
					args = append(args, "-f")
				}
				env := []string{"XDG_STATE_HOME=" + t.TempDir()}
				_, errOut, status := runImapfsEnv(t, env, append(args, tc.server, dir)...)
				if said := strings.TrimSpace(errOut); status == 0 || !strings.HasPrefix(said, tc.want) || strings.Contains(said, "\n") {
					t.Errorf("status %d, stderr:\n%s\nwant the one line %q", status, errOut, tc.want)
				}
				if strings.Contains(errOut, valid) || strings.Contains(errOut, refused) {
					t.Errorf("stderr shows the token: %s", errOut)
				}
				if test.IsMounted(dir) {
					t.Errorf("%s left mounted", dir)
					exec.Command("fusermount3", "-u", dir).Run()
				}
			})
		}
	}
}

// The mechanism chosen for each credential and what the server offers.
func TestChooseAuth(t *testing.T) {
	caps := func(names ...string) imapclient.Capabilities {
		c := imapclient.Capabilities{"IMAP4REV1": true}
		for _, n := range names {
			c[n] = true
		}
		return c
	}
	for _, tc := range []struct {
		caps  imapclient.Capabilities
		want  string
		token bool
		chose string // "" for an error
	}{
		{caps("AUTH=PLAIN", "AUTH=LOGIN"), "", false, "plain"},
		{caps("AUTH=LOGIN"), "", false, "login"},
		{caps(), "", false, "login"},
		{caps("LOGINDISABLED"), "", false, ""},
		{caps("AUTH=PLAIN", "LOGINDISABLED"), "login", false, ""},
		{caps("AUTH=PLAIN"), "cram-md5", false, ""},
		{caps("AUTH=CRAM-MD5"), "cram-md5", false, "cram-md5"},
		{caps("AUTH=PLAIN", "AUTH=XOAUTH2", "AUTH=OAUTHBEARER"), "", true, "oauthbearer"},
		{caps("AUTH=PLAIN", "AUTH=XOAUTH2"), "", true, "xoauth2"},
		{caps("AUTH=PLAIN"), "", true, ""},
		{caps("AUTH=XOAUTH2", "AUTH=OAUTHBEARER"), "xoauth2", true, "xoauth2"},
		{caps("AUTH=XOAUTH2"), "oauthbearer", true, ""},
	} {
		chose, err := chooseAuth(tc.caps, tc.want, tc.token)
		if chose != tc.chose || (err == nil) != (tc.chose != "") {
			t.Errorf("chooseAuth(%v, %q, token %v) = %q, %v; want %q", tc.caps, tc.want, tc.token, chose, err, tc.chose)
		}
	}
}

// The helpers run with the home directory of the user database as $HOME,
// whatever $HOME imapfs was given (mount(8) gives an fstab "user" mount
// root's): a token helper finds its own files there.
func TestHelperHome(t *testing.T) {
	u, err := user.LookupId(strconv.Itoa(os.Getuid()))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", t.TempDir())
	if token, err := oauthToken(context.Background(), "echo $HOME"); err != nil || token != u.HomeDir {
		t.Errorf("--oauth-token-command saw HOME=%q (%v), want %q", token, err, u.HomeDir)
	}
	if pass, err := password(&mountopts.Config{PasswordCommand: "echo $HOME"}); err != nil || pass != u.HomeDir {
		t.Errorf("--password-command saw HOME=%q (%v), want %q", pass, err, u.HomeDir)
	}
}
