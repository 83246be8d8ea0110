package fs_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
// attributes and names. Two mounts of one account, one with 0 and one
// with an hour; another client expunges a message and adds a newer one.
// Once the mount with 0 no longer finds the expunged name and stats the
// mailbox's new mtime, the one with an hour, which lists nothing, still
// sees what it saw before.
func TestAttrAndEntryTimeouts(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	before := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	after := before.Add(24 * time.Hour)
	gone := s.Seed(t, u, "INBOX", test.Message{Body: []byte("Subject: old\r\n\r\nold\r\n"), Date: before})[0]
	fresh := test.Mount(t, s, u, "-o", "attr_timeout=0,entry_timeout=0")
	kept := test.Mount(t, s, u, "-o", "attr_timeout=3600,entry_timeout=3600")
	paths := func(m *test.Mounted) (inbox, file string) {
		inbox = filepath.Join(m.Dir, "INBOX")
		return inbox, filepath.Join(inbox, fmt.Sprintf("%d.eml", gone))
	}
	shown := map[*test.Mounted]time.Time{}
	for _, m := range []*test.Mounted{fresh, kept} {
		inbox, file := paths(m)
		if _, err := os.Stat(file); err != nil {
			t.Fatal(err)
		}
		info, err := os.Stat(inbox)
		if err != nil {
			t.Fatalf("INBOX: %v", err)
		}
		shown[m] = info.ModTime()
	}

	expunge(t, s, u, "INBOX", gone)
	s.Seed(t, u, "INBOX", test.Message{Body: []byte("Subject: new\r\n\r\nnew\r\n"), Date: after})
	inbox, file := paths(fresh)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, err := os.Stat(file)
		info, dirErr := os.Stat(inbox)
		if dirErr != nil {
			t.Fatal(dirErr)
		}
		if errors.Is(err, os.ErrNotExist) && info.ModTime().After(shown[fresh]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("with attr_timeout=0,entry_timeout=0: the expunged message %v, INBOX mtime %v; want ENOENT and a later mtime than %v", err, info.ModTime(), shown[fresh])
		}
	}
	inbox, file = paths(kept)
	if _, err := os.Stat(file); err != nil {
		t.Errorf("with entry_timeout=3600 the name is not kept: %v", err)
	}
	if info, err := os.Stat(inbox); err != nil || !info.ModTime().Equal(shown[kept]) {
		t.Errorf("with attr_timeout=3600 INBOX: %v, mtime %v, want the one kept, %v", err, info.ModTime(), shown[kept])
	}
}

// waitGone stats path until it is ENOENT; the kernel keeps a name a
// minute, far longer than the wait.
func waitGone(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, err := os.Stat(path)
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s another client expunged is still there: %v", path, err)
		}
	}
	if out, err := exec.Command("cat", path).CombinedOutput(); err == nil {
		t.Errorf("cat of the expunged message succeeded: %.100s", out)
	}
}

// A message another client expunges is forgotten by the kernel: at once
// when a listing shows it gone, and otherwise when the kernel asks for the
// name again (here after a second, -o entry_timeout=1), though the lookup
// is answered from the listing at hand: it has that listing refreshed.
func TestExpungedNameForgotten(t *testing.T) {
	s := test.SharedDovecot(t)
	for _, tc := range []struct {
		name  string
		flags []string
		list  bool
	}{{"after a listing", nil, true}, {"without a listing", []string{"-o", "entry_timeout=1"}, false}} {
		t.Run(tc.name, func(t *testing.T) {
			u := s.NewUser(t)
			uids := seedSome(t, s, u, "INBOX", 2)
			m := test.Mount(t, s, u, tc.flags...)
			inbox := filepath.Join(m.Dir, "INBOX")
			goneFile := filepath.Join(inbox, fmt.Sprintf("%d.eml", uids[0]))
			run(t, "ls", "-l", inbox)
			run(t, "cat", goneFile)
			expunge(t, s, u, "INBOX", uids[0])
			if tc.list {
				waitListing(t, inbox, fmt.Sprintf("%d.eml", uids[1]), filepath.Base(goneFile))
			}
			waitGone(t, goneFile)
		})
	}
}
