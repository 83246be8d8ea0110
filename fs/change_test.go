package fs_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"imapfs/test"
)

// mailboxNames lists u's mailboxes through a raw session of the harness.
func mailboxNames(t *testing.T, s *test.Server, u test.User) []string {
	t.Helper()
	untagged, _, err := s.Session(t, u).Run(`LIST "" "*"`)
	if err != nil {
		t.Fatal(err)
	}
	return untagged
}

func hasMailbox(t *testing.T, s *test.Server, u test.User, encoded string) bool {
	for _, line := range mailboxNames(t, s, u) {
		if strings.HasSuffix(line, ` "`+encoded+`"`) || strings.HasSuffix(line, " "+encoded) {
			return true
		}
	}
	return false
}

// rm removes exactly the message named, by UID; a message another client
// flagged \Deleted survives.
func TestRemoveMessage(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		uids := seedSome(t, s, u, "INBOX", 3)
		c := s.Session(t, u)
		if _, _, err := c.Run("SELECT INBOX"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Run(fmt.Sprintf("UID STORE %d +FLAGS.SILENT (\\Deleted)", uids[0])); err != nil {
			t.Fatal(err)
		}
		m := test.Mount(t, s, u)
		inbox := mailboxDir(m, s, "INBOX")
		run(t, "rm", filepath.Join(inbox, fmt.Sprintf("%d.eml", uids[1])))
		var left []uint32
		for _, sm := range s.Messages(t, u, "INBOX") {
			left = append(left, sm.UID)
		}
		if want := []uint32{uids[0], uids[2]}; !slices.Equal(left, want) {
			t.Fatalf("server holds %v, want %v", left, want)
		}
		entries, _ := os.ReadDir(inbox)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if want := []string{fmt.Sprintf("%d.eml", uids[0]), fmt.Sprintf("%d.eml", uids[2])}; !slices.Equal(names, want) {
			t.Errorf("ls shows %v, want %v", names, want)
		}
		if _, err := os.Stat(filepath.Join(inbox, fmt.Sprintf("%d.eml", uids[1]))); !os.IsNotExist(err) {
			t.Errorf("stat of the removed file: %v", err)
		}
		if out, err := exec.Command("rm", filepath.Join(inbox, "999.eml")).CombinedOutput(); err == nil || !strings.Contains(string(out), "No such file") {
			t.Errorf("rm of a missing message: %v %s", err, out)
		}
	})
}

// mkdir creates mailboxes (nested, non-ASCII), rmdir deletes only empty
// ones, and the listing agrees with the server at once.
func TestMkdirRmdir(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		m := test.Mount(t, s, u)
		top := mailboxDir(m, s, s.Personal("Neu"))
		nested := filepath.Join(top, "Ärger & Co")
		run(t, "mkdir", "-p", nested)
		for _, name := range []string{s.Personal("Neu"), s.Personal("Neu", "&AMQ-rger &- Co")} {
			if !hasMailbox(t, s, u, name) {
				t.Errorf("server lacks %q: %v", name, mailboxNames(t, s, u))
			}
		}
		if info, err := os.Stat(nested); err != nil || !info.IsDir() {
			t.Fatalf("stat %s: %v", nested, err)
		}
		if out, err := exec.Command("mkdir", nested).CombinedOutput(); err == nil || !strings.Contains(string(out), "File exists") {
			t.Errorf("mkdir of an existing mailbox: %v %s", err, out)
		}
		// Not empty: a child mailbox, then a message.
		if out, err := exec.Command("rmdir", top).CombinedOutput(); err == nil || !strings.Contains(string(out), "not empty") {
			t.Errorf("rmdir with a child mailbox: %v %s", err, out)
		}
		s.Seed(t, u, s.Personal("Neu", "Ärger & Co"), test.Message{Body: []byte("Subject: x\r\n\r\nx\r\n")})
		if out, err := exec.Command("rmdir", nested).CombinedOutput(); err == nil || !strings.Contains(string(out), "not empty") {
			t.Errorf("rmdir with a message: %v %s", err, out)
		}
		run(t, "rm", filepath.Join(nested, "1.eml"))
		run(t, "rmdir", nested)
		run(t, "rmdir", top)
		if hasMailbox(t, s, u, s.Personal("Neu")) {
			t.Errorf("mailbox still on the server: %v", mailboxNames(t, s, u))
		}
		if _, err := os.Stat(top); !os.IsNotExist(err) {
			t.Errorf("stat after rmdir: %v", err)
		}
	})
}
