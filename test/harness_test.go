package test

import (
	"crypto/tls"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

// The servers accept LOGIN over plaintext, STARTTLS and implicit TLS, and
// their certificate verifies against the harness CA.
func TestLoginEachSecurity(t *testing.T) {
	EachServer(t, func(t *testing.T, s *Server) {
		for _, tc := range []struct {
			name    string
			sec     Security
			wantTLS bool
		}{{"plaintext", Plaintext, false}, {"starttls", StartTLS, true}, {"implicit-tls", ImplicitTLS, true}} {
			t.Run(tc.name, func(t *testing.T) {
				c, err := DialRaw(s, tc.sec)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if c.TLS() != tc.wantTLS {
					t.Errorf("verified TLS = %v, want %v", c.TLS(), tc.wantTLS)
				}
				if err := c.Login(s.Alice); err != nil {
					t.Fatal(err)
				}
				if err := c.Login(User{s.Bob.Name, "wrong"}); err == nil {
					t.Error("LOGIN with a wrong password succeeded")
				}
			})
		}
	})
}

// A client that does not trust the harness CA must fail the handshake.
func TestCertificateNeedsHarnessCA(t *testing.T) {
	EachServer(t, func(t *testing.T, s *Server) {
		conn, err := tls.Dial("tcp", s.TLSAddr(), &tls.Config{ServerName: "127.0.0.1"})
		if err == nil {
			conn.Close()
			t.Fatal("TLS handshake verified without the harness CA")
		}
	})
}

func hasCapabilities(t *testing.T, c *Raw, want ...string) {
	t.Helper()
	untagged, _, err := c.Run("CAPABILITY")
	if err != nil {
		t.Fatal(err)
	}
	caps := strings.Fields(strings.ToUpper(strings.Join(untagged, " ")))
	for _, w := range want {
		if !slices.Contains(caps, w) {
			t.Errorf("capability %s missing from %v", w, caps)
		}
	}
}

// runOK runs a command that must succeed and, unless wantUntagged is
// empty, answer an untagged response containing it.
func runOK(t *testing.T, c *Raw, command, wantUntagged string) {
	t.Helper()
	untagged, _, err := c.Run(command)
	if err != nil {
		t.Fatal(err)
	}
	if wantUntagged == "" {
		return
	}
	for _, line := range untagged {
		if strings.Contains(line, wantUntagged) {
			return
		}
	}
	t.Errorf("%s: no untagged response containing %q in %q", command, wantUntagged, untagged)
}

// ACL, QUOTA and METADATA are on and answer.
func TestExtensionsAnswer(t *testing.T) {
	EachServer(t, func(t *testing.T, s *Server) {
		u := s.NewUser(t)
		c := s.Session(t, u)
		hasCapabilities(t, c, "ACL", "QUOTA", "METADATA", "UIDPLUS", "MOVE", "CONDSTORE")
		runOK(t, c, "GETACL INBOX", "* ACL INBOX "+u.Name+" ")
		runOK(t, c, "MYRIGHTS INBOX", "* MYRIGHTS INBOX")
		runOK(t, c, "GETQUOTAROOT INBOX", "STORAGE 0 4194304")
		runOK(t, c, "GETQUOTAROOT INBOX", "MESSAGE 0 1000000")
		runOK(t, c, `SETMETADATA INBOX (/private/comment "harness")`, "")
		runOK(t, c, "GETMETADATA INBOX (/private/comment)", `harness`)
	})
}

// The admin account works: Dovecot's master user logs in as another user,
// Cyrus's admin reads another user's quota.
func TestAdmin(t *testing.T) {
	EachServer(t, func(t *testing.T, s *Server) {
		if s.Kind == "dovecot" {
			c, err := s.session(User{s.Alice.Name + "*" + s.Admin.Name, s.Admin.Password})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			runOK(t, c, "GETQUOTAROOT INBOX", "* QUOTAROOT INBOX")
			return
		}
		c := s.Session(t, s.Admin)
		runOK(t, c, "GETQUOTA user.alice", "* QUOTA user.alice (STORAGE 0 4194304 MESSAGE 0 1000000)")
	})
}

// Seeded messages are read back through the server's own tools, with their
// bytes, flags and INTERNALDATE, in nested and non-ASCII mailboxes too.
func TestSeedReadBack(t *testing.T) {
	EachServer(t, func(t *testing.T, s *Server) {
		u := s.NewUser(t)
		nested := s.Personal("Work", "Büro & Co")
		s.CreateMailbox(t, u, s.Personal("Work"))
		s.CreateMailbox(t, u, nested)
		date := time.Date(2024, 2, 29, 13, 14, 15, 0, time.FixedZone("", -7*3600))
		msgs := []Message{
			{Body: []byte("From: a@example.com\r\nSubject: one\r\n\r\nfirst\r\n"), Flags: []string{`\Flagged`, "$Label1"}, Date: date},
			{Body: []byte("From: b@example.com\r\nSubject: two\r\n\r\nno final newline"), Flags: []string{`\Seen`}, Date: date.Add(time.Hour)},
			{Body: []byte("Subject: three\r\n\r\n\xe9t\xe9 8-bit\r\n")},
		}
		for _, mailbox := range []string{"INBOX", nested} {
			uids := s.Seed(t, u, mailbox, msgs...)
			got := s.Messages(t, u, mailbox)
			if len(got) != len(msgs) {
				t.Fatalf("%s: %d messages, want %d: %+v", mailbox, len(got), len(msgs), got)
			}
			for i, m := range msgs {
				g := got[i]
				if g.UID != uids[i] {
					t.Errorf("%s: message %d has UID %d, APPENDUID said %d", mailbox, i, g.UID, uids[i])
				}
				want := slices.Clone(m.Flags)
				slices.Sort(want)
				if !slices.Equal(g.Flags, want) && !(len(g.Flags) == 0 && len(want) == 0) {
					t.Errorf("%s UID %d: flags %q, want %q", mailbox, g.UID, g.Flags, want)
				}
				if g.Size != int64(len(m.Body)) {
					t.Errorf("%s UID %d: size %d, want %d", mailbox, g.UID, g.Size, len(m.Body))
				}
				if !m.Date.IsZero() && !g.InternalDate.Equal(m.Date) {
					t.Errorf("%s UID %d: INTERNALDATE %v, want %v", mailbox, g.UID, g.InternalDate, m.Date)
				}
				if body := s.Body(t, u, mailbox, g.UID); string(body) != string(m.Body) {
					t.Errorf("%s UID %d: body %q, want %q", mailbox, g.UID, body, m.Body)
				}
			}
		}
	})
}

// A quota can be made small enough to be hit, and the server says so.
func TestQuotaLimits(t *testing.T) {
	EachServer(t, func(t *testing.T, s *Server) {
		u := s.NewUserWithQuota(t, Quota{StorageKiB: 1024, Messages: 2})
		c := s.Session(t, u)
		small := Message{Body: []byte("Subject: x\r\n\r\nx\r\n")}
		s.Seed(t, u, "INBOX", small, small)
		if _, err := c.appendMessage("INBOX", small); err == nil {
			t.Fatal("a third message was accepted with a MESSAGE limit of 2")
		} else if !strings.Contains(strings.ToUpper(err.Error()), "QUOTA") {
			t.Errorf("over-quota APPEND refused without naming the quota: %v", err)
		}
	})
}

// A private server for one test starts and stops on its own.
func TestPrivateServers(t *testing.T) {
	for _, start := range []func(T) *Server{StartDovecot, StartCyrus} {
		var s *Server
		t.Run("start", func(t *testing.T) {
			s = start(t)
			c := s.Session(t, s.Bob)
			runOK(t, c, "LIST \"\" INBOX", "INBOX")
		})
		if s != nil && s.proc != nil && !s.proc.exited() {
			t.Errorf("%s still running after its test ended", s.Kind)
		}
	}
}

// A trivial FUSE filesystem mounted through the harness is seen by a real ls
// and cat, and is gone after unmounting.
func TestFUSEMount(t *testing.T) {
	m := MountCommand(t, []string{Build(t, "./test/hellofs")}, nil)
	out, err := exec.Command("ls", "-l", m.Dir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "hello") {
		t.Fatalf("ls -l %s: %v\n%s", m.Dir, err, out)
	}
	out, err = exec.Command("cat", m.Dir+"/hello").CombinedOutput()
	if err != nil || string(out) != "hello, world\n" {
		t.Fatalf("cat: %v: %q", err, out)
	}
	m.Unmount(t)
	if IsMounted(m.Dir) {
		t.Fatal("still mounted after Unmount")
	}
}
