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
		// A name the server refuses: Cyrus says "Invalid mailbox name"
		// (EINVAL) to a backslash, Dovecot [CANNOT] (EPERM) to a tab.
		odd, want := filepath.Join(mailboxDir(m, s, "INBOX"), `back\slash`), "Invalid argument"
		if s.Kind == "dovecot" {
			odd, want = filepath.Join(m.Dir, "tab\tname"), "Operation not permitted"
		}
		if out, err := exec.Command("mkdir", odd).CombinedOutput(); err == nil || !strings.Contains(string(out), want) {
			t.Errorf("mkdir of a name the server refuses: %v %s, want %s", err, out, want)
		}
	})
}

// mv between mailboxes moves the message (UID MOVE): it leaves the source
// and appears in the target as <newuid>.eml at once; renaming a message
// within its mailbox is refused; ln copies it.
func TestMoveAndLinkMessages(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		dest := s.Personal("Zielordner ✓")
		s.CreateMailbox(t, u, dest)
		uids := seedSome(t, s, u, "INBOX", 3)
		body := s.Body(t, u, "INBOX", uids[0])
		m := test.Mount(t, s, u)
		inbox, target := mailboxDir(m, s, "INBOX"), mailboxDir(m, s, dest)

		run(t, "mv", filepath.Join(inbox, fmt.Sprintf("%d.eml", uids[0])), target+"/")
		moved := s.Messages(t, u, dest)
		if len(moved) != 1 || string(s.Body(t, u, dest, moved[0].UID)) != string(body) {
			t.Fatalf("target holds %+v", moved)
		}
		if left := s.Messages(t, u, "INBOX"); len(left) != 2 {
			t.Fatalf("source holds %+v", left)
		}
		entries, _ := os.ReadDir(target)
		if len(entries) != 1 || entries[0].Name() != fmt.Sprintf("%d.eml", moved[0].UID) {
			t.Errorf("target lists %v, want %d.eml", entries, moved[0].UID)
		}
		if _, err := os.Stat(filepath.Join(inbox, fmt.Sprintf("%d.eml", uids[0]))); !os.IsNotExist(err) {
			t.Errorf("moved message still in the source: %v", err)
		}
		if data, err := os.ReadFile(filepath.Join(target, fmt.Sprintf("%d.eml", moved[0].UID))); err != nil || string(data) != string(body) {
			t.Errorf("reading the moved message: %v", err)
		}

		second := filepath.Join(inbox, fmt.Sprintf("%d.eml", uids[1]))
		if out, err := exec.Command("mv", second, filepath.Join(inbox, "renamed.eml")).CombinedOutput(); err == nil {
			t.Errorf("renaming a message within its mailbox succeeded: %s", out)
		}
		if len(s.Messages(t, u, "INBOX")) != 2 {
			t.Error("a refused rename changed the server")
		}

		run(t, "ln", second, target+"/")
		if got := s.Messages(t, u, "INBOX"); len(got) != 2 {
			t.Errorf("ln changed the source: %+v", got)
		}
		copies := s.Messages(t, u, dest)
		if len(copies) != 2 {
			t.Fatalf("target after ln holds %+v", copies)
		}
		entries, _ = os.ReadDir(target)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if want := []string{fmt.Sprintf("%d.eml", copies[0].UID), fmt.Sprintf("%d.eml", copies[1].UID)}; !slices.Equal(names, want) {
			t.Errorf("target lists %v, want %v", names, want)
		}
	})
}

// mv DIR1 DIR2 renames the mailbox; its children and messages follow, and
// files already looked up keep working.
func TestRenameMailbox(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		s.CreateMailbox(t, u, s.Personal("Alt"))
		s.CreateMailbox(t, u, s.Personal("Alt", "Kind"))
		uids := seedSome(t, s, u, s.Personal("Alt", "Kind"), 2)
		m := test.Mount(t, s, u)
		old := mailboxDir(m, s, s.Personal("Alt"))
		file := filepath.Join(old, "Kind", fmt.Sprintf("%d.eml", uids[0]))
		if _, err := os.ReadFile(file); err != nil {
			t.Fatal(err)
		}
		renamed := mailboxDir(m, s, s.Personal("Neu"))
		run(t, "mv", old, renamed)
		if !hasMailbox(t, s, u, s.Personal("Neu", "Kind")) || hasMailbox(t, s, u, s.Personal("Alt")) {
			t.Fatalf("server mailboxes after mv: %v", mailboxNames(t, s, u))
		}
		if got := s.Messages(t, u, s.Personal("Neu", "Kind")); len(got) != 2 {
			t.Errorf("messages after the rename: %+v", got)
		}
		data, err := os.ReadFile(filepath.Join(renamed, "Kind", fmt.Sprintf("%d.eml", uids[1])))
		if err != nil || !strings.Contains(string(data), "Subject: hello 1") {
			t.Errorf("reading under the new name: %v", err)
		}
		if _, err := os.Stat(old); !os.IsNotExist(err) {
			t.Errorf("old name still there: %v", err)
		}
	})
}

// Appending to, truncating, touching, chmod or chown of an existing
// message fails with EPERM and changes nothing (cp onto it: see
// TestCopyOntoTakenName), as do symbolic links and FIFOs;
// rm -r of a mailbox removes its messages, then it.
func TestMessagesImmutableAndRmR(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		box := s.Personal("Weg")
		s.CreateMailbox(t, u, box)
		uids := seedSome(t, s, u, box, 3)
		body := s.Body(t, u, box, uids[0])
		m := test.Mount(t, s, u)
		dir := mailboxDir(m, s, box)
		file := filepath.Join(dir, fmt.Sprintf("%d.eml", uids[0]))
		for _, cmd := range [][]string{
			{"sh", "-c", "echo x >> '" + file + "'"},
			{"truncate", "-s", "0", file},
			{"touch", file},
			{"touch", "-d", "2001-01-01", file},
			{"chmod", "444", file},
			{"chmod", "+t", file},
			{"chown", "nobody", file},
			{"ln", "-s", file, filepath.Join(dir, "link.eml")},
			{"mkfifo", filepath.Join(dir, "fifo")},
		} {
			out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput()
			if err == nil || !strings.Contains(string(out), "Operation not permitted") {
				t.Errorf("%v: %v %s", cmd, err, out)
			}
		}
		if got := s.Body(t, u, box, uids[0]); string(got) != string(body) {
			t.Error("the message changed")
		}
		// What changes nothing succeeds: the access time, the same mode.
		run(t, "touch", "-a", file)
		run(t, "chmod", "600", file)
		if st, err := statT(file); err != nil || st.Mode&0o777 != 0o600 || st.Mtim.Sec != s.Messages(t, u, box)[0].InternalDate.Unix() {
			t.Errorf("stat after the refusals: %v mode %o mtime %d", err, st.Mode&0o777, st.Mtim.Sec)
		}
		run(t, "rm", "-r", dir)
		if hasMailbox(t, s, u, box) {
			t.Errorf("mailbox still there: %v", mailboxNames(t, s, u))
		}
		if strings.Contains(m.Log(), "connection lost") {
			t.Errorf("rm -r cost a connection:\n%s", m.Log())
		}
	})
}

// On a server without UIDPLUS and MOVE, rm and mv refuse (EOPNOTSUPP, the
// log says why) rather than expunge other clients' \Deleted messages; mv
// leaves the copy and the source. With --expunge-all-deleted they work,
// with a plain EXPUNGE.
func TestNoUIDPlus(t *testing.T) {
	s := test.StartDovecotWith(t, test.DovecotOptions{
		Capabilities: "IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE IDLE NAMESPACE UNSELECT CHILDREN LIST-EXTENDED ESEARCH",
	})
	u := s.NewUser(t)
	s.CreateMailbox(t, u, "Other")
	uids := seedSome(t, s, u, "INBOX", 3)
	m := test.Mount(t, s, u)
	out, err := exec.Command("rm", fmt.Sprintf("%s/INBOX/%d.eml", m.Dir, uids[0])).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not supported") || !strings.Contains(m.Log(), "UIDPLUS") {
		t.Errorf("rm without UIDPLUS: %v %s\n%s", err, out, m.Log())
	}
	out, err = exec.Command("mv", fmt.Sprintf("%s/INBOX/%d.eml", m.Dir, uids[1]), m.Dir+"/Other/").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not supported") {
		t.Errorf("mv without MOVE and UIDPLUS: %v %s", err, out)
	}
	// Refused before the COPY: a retried mv must not leave one more copy
	// each time.
	if n, c := len(s.Messages(t, u, "INBOX")), len(s.Messages(t, u, "Other")); n != 3 || c != 0 {
		t.Errorf("INBOX holds %d (want 3), Other %d (want none)", n, c)
	}
	m.Unmount(t)

	m = test.Mount(t, s, u, "--expunge-all-deleted")
	run(t, "rm", fmt.Sprintf("%s/INBOX/%d.eml", m.Dir, uids[0]))
	if got := s.Messages(t, u, "INBOX"); len(got) != 2 || got[0].UID != uids[1] {
		t.Errorf("after rm with --expunge-all-deleted: %+v", got)
	}
}

// A change the ACL forbids fails with EACCES and changes nothing.
func TestACLDenied(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		owner, reader := s.NewUser(t), s.NewUser(t)
		uids := seedSome(t, s, owner, "INBOX", 1)
		if _, _, err := s.Session(t, owner).Run("SETACL INBOX " + reader.Name + " lr"); err != nil {
			t.Fatal(err)
		}
		m := test.Mount(t, s, reader)
		dir := filepath.Join(m.Dir, "shared", owner.Name)
		if s.Kind == "cyrus" {
			dir = filepath.Join(m.Dir, "user", owner.Name)
		}
		file := filepath.Join(dir, fmt.Sprintf("%d.eml", uids[0]))
		if _, err := os.ReadFile(file); err != nil {
			t.Fatalf("reading a shared message: %v\n%s", err, run(t, "find", m.Dir))
		}
		for _, cmd := range [][]string{{"rm", file}, {"mkdir", filepath.Join(dir, "Sub")}} {
			out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput()
			if err == nil || !strings.Contains(string(out), "Permission denied") {
				t.Errorf("%v: %v %s\n%s", cmd, err, out, m.Log())
			}
		}
		if n := len(s.Messages(t, owner, "INBOX")); n != 1 {
			t.Errorf("owner's INBOX holds %d messages", n)
		}
	})
}

// An empty new file waits for content instead of becoming an empty
// message; renaming INBOX follows the server's rules: Dovecot refuses it
// ([CANNOT], so EPERM) and nothing changes.
func TestEmptyFileAndInboxRename(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	seedSome(t, s, u, "INBOX", 2)
	m := test.Mount(t, s, u)
	empty := filepath.Join(m.Dir, "INBOX", "draft.eml")
	run(t, "touch", empty)
	if n := len(s.Messages(t, u, "INBOX")); n != 2 {
		t.Errorf("touch stored something: %d messages", n)
	}
	run(t, "sh", "-c", "printf 'Subject: later\\r\\n\\r\\nbody\\r\\n' >> '"+empty+"'")
	if n := len(s.Messages(t, u, "INBOX")); n != 3 {
		t.Errorf("after writing: %d messages, want 3", n)
	}
	out, err := exec.Command("mv", filepath.Join(m.Dir, "INBOX"), filepath.Join(m.Dir, "Old INBOX")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Operation not permitted") {
		t.Errorf("mv INBOX: %v %s\n%s", err, out, m.Log())
	}
	if n := len(s.Messages(t, u, "INBOX")); n != 3 {
		t.Errorf("INBOX holds %d messages after the refused rename", n)
	}
}

// Without MOVE but with UIDPLUS, mv copies, then removes the source once
// the copy is confirmed.
func TestMoveWithoutMOVE(t *testing.T) {
	s := test.StartDovecotWith(t, test.DovecotOptions{
		Capabilities: "IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE IDLE NAMESPACE UNSELECT CHILDREN LIST-EXTENDED ESEARCH UIDPLUS",
	})
	u := s.NewUser(t)
	s.CreateMailbox(t, u, "Other/Nested")
	uids := seedSome(t, s, u, "INBOX", 2)
	body := s.Body(t, u, "INBOX", uids[0])
	m := test.Mount(t, s, u)
	run(t, "mv", fmt.Sprintf("%s/INBOX/%d.eml", m.Dir, uids[0]), m.Dir+"/Other/Nested/")
	left, moved := s.Messages(t, u, "INBOX"), s.Messages(t, u, "Other/Nested")
	if len(left) != 1 || left[0].UID != uids[1] || len(moved) != 1 || string(s.Body(t, u, "Other/Nested", moved[0].UID)) != string(body) {
		t.Errorf("INBOX %+v, Other/Nested %+v", left, moved)
	}
	if _, err := os.Stat(fmt.Sprintf("%s/Other/Nested/%d.eml", m.Dir, moved[0].UID)); err != nil {
		t.Errorf("the moved message is not listed: %v", err)
	}
}
