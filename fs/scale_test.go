package fs_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"imapfs/test"
)

// A refresh of a listed mailbox costs what changed, not what the mailbox
// holds: after one arrival, and after another client's expunge, the next
// listing reads fewer bytes than two a message of the mailbox (a whole
// listing is about a hundred a message, the UIDs of UID SEARCH ALL about
// five) and fetches no whole listing. Dovecot has CONDSTORE (flags
// changed since the last refresh) and ESEARCH (the UIDs left as a
// compact set).
func TestRefreshCostsWhatChanged(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	const n = 1000
	msgs := make([]test.Message, n)
	for i := range msgs {
		msgs[i] = test.Message{Body: fmt.Appendf(nil, "From: a@example.org\r\nSubject: %d\r\n\r\nbody %d\r\n", i, i), Flags: []string{`\Seen`}}
	}
	uids := s.Seed(t, u, "INBOX", msgs...)
	m := test.Mount(t, s, u, "--dir-cache-time", "1s")
	inbox := filepath.Join(m.Dir, "INBOX")
	count := func() int {
		t.Helper()
		entries, err := os.ReadDir(inbox)
		if err != nil {
			t.Fatal(err)
		}
		return len(entries)
	}
	before := m.Stats(t)
	if got := count(); got != n {
		t.Fatalf("INBOX lists %d messages, want %d", got, n)
	}
	after := m.Stats(t)
	whole := after["bytes_in"] - before["bytes_in"]
	t.Logf("the whole listing: %d bytes in", whole)

	refresh := func(what string, want int) {
		t.Helper()
		time.Sleep(1500 * time.Millisecond) // past --dir-cache-time
		before := m.Stats(t)
		if got := count(); got != want {
			t.Fatalf("after %s INBOX lists %d messages, want %d", what, got, want)
		}
		after := m.Stats(t)
		in, listings := after["bytes_in"]-before["bytes_in"], after["listings"]-before["listings"]
		t.Logf("refresh after %s: %d bytes in, %d commands", what, in, after["commands"]-before["commands"])
		if in >= 2*n || listings != 0 {
			t.Errorf("refresh after %s read %d bytes (a whole listing is %d) and fetched %d whole listings; want under %d bytes and none",
				what, in, whole, listings, 2*n)
		}
	}
	s.Seed(t, u, "INBOX", test.Message{Body: []byte("Subject: one more\r\n\r\nhello\r\n")})
	refresh("one arrival", n+1)

	c := s.Session(t, u)
	for _, cmd := range []string{"SELECT INBOX", fmt.Sprintf("UID STORE %d +FLAGS.SILENT (\\Deleted)", uids[n/2]), fmt.Sprintf("UID EXPUNGE %d", uids[n/2])} {
		if _, _, err := c.Run(cmd); err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
	}
	refresh("another client's expunge", n)
}
