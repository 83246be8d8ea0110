package fs_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"imapfs/test"
)

// expunge removes a message as another client does.
func expunge(t *testing.T, s *test.Server, u test.User, mailbox string, uid uint32) {
	t.Helper()
	c := s.Session(t, u)
	for _, cmd := range []string{"SELECT " + mailbox, fmt.Sprintf(`UID STORE %d +FLAGS.SILENT (\Deleted)`, uid), fmt.Sprintf("UID EXPUNGE %d", uid)} {
		if _, _, err := c.Run(cmd); err != nil {
			t.Fatal(err)
		}
	}
}

// waitListing lists dir until it holds want and not gone: the mount has
// seen another client's changes.
func waitListing(t *testing.T, dir, want, gone string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if slices.Contains(names, want) && !slices.Contains(names, gone) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still lists %v, want %s and not %s", dir, names, want, gone)
		}
	}
}

// -o attr_timeout= and entry_timeout= decide how long the kernel keeps
// attributes and names. Another client expunges a message and adds a
// newer one; once a listing shows both, a mount with 0 no longer finds the
// expunged name and stats the mailbox's new mtime, while one with an hour
// still sees what it saw before. (The mounts are read-only: on a writable
// one, a listing makes the kernel ask for the directory's attributes again
// for its access time.)
func TestAttrAndEntryTimeouts(t *testing.T) {
	s := test.SharedDovecot(t)
	before := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	after := before.Add(24 * time.Hour)
	for _, tc := range []struct {
		timeout string
		fresh   bool
	}{{"0", true}, {"3600", false}} {
		t.Run("timeout="+tc.timeout, func(t *testing.T) {
			u := s.NewUser(t)
			gone := s.Seed(t, u, "INBOX", test.Message{Body: []byte("Subject: old\r\n\r\nold\r\n"), Date: before})[0]
			m := test.Mount(t, s, u, "-o", "ro,attr_timeout="+tc.timeout+",entry_timeout="+tc.timeout)
			inbox := filepath.Join(m.Dir, "INBOX")
			goneFile := filepath.Join(inbox, fmt.Sprintf("%d.eml", gone))
			if _, err := os.Stat(goneFile); err != nil {
				t.Fatal(err)
			}
			if info, err := os.Stat(inbox); err != nil || !info.ModTime().Equal(before) {
				t.Fatalf("INBOX: %v, mtime %v, want %v", err, info.ModTime(), before)
			}

			expunge(t, s, u, "INBOX", gone)
			added := s.Seed(t, u, "INBOX", test.Message{Body: []byte("Subject: new\r\n\r\nnew\r\n"), Date: after})[0]
			waitListing(t, inbox, fmt.Sprintf("%d.eml", added), fmt.Sprintf("%d.eml", gone))

			_, err := os.Stat(goneFile)
			info, dirErr := os.Stat(inbox)
			if dirErr != nil {
				t.Fatal(dirErr)
			}
			if tc.fresh {
				if !errors.Is(err, os.ErrNotExist) {
					t.Errorf("the expunged message: %v, want ENOENT", err)
				}
				if !info.ModTime().Equal(after) {
					t.Errorf("INBOX mtime %v, want the new message's %v", info.ModTime(), after)
				}
			} else {
				if err != nil {
					t.Errorf("the name kept for an hour: %v", err)
				}
				if !info.ModTime().Equal(before) {
					t.Errorf("INBOX mtime %v, want the one kept for an hour, %v", info.ModTime(), before)
				}
			}
			if t.Failed() {
				t.Log(strings.TrimSpace(m.Log()))
			}
		})
	}
}
