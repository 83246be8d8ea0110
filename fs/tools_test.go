package fs_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"imapfs/test"
)

// mailboxDir is where a server mailbox appears under the mount.
func mailboxDir(m *test.Mounted, s *test.Server, mailbox string) string {
	return filepath.Join(m.Dir, filepath.Join(strings.Split(mailbox, s.Delimiter)...))
}

// unmountStats unmounts and returns the counters imapfs logs at exit.
func unmountStats(t *testing.T, m *test.Mounted) map[string]string {
	t.Helper()
	m.Unmount(t)
	line := ""
	for _, l := range strings.Split(m.Log(), "\n") {
		if strings.Contains(l, "msg=unmounted") {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no unmount statistics in the log:\n%s", m.Log())
	}
	stats := map[string]string{}
	for _, kv := range regexp.MustCompile(`(\w+)=("[^"]*"|\S+)`).FindAllStringSubmatch(line, -1) {
		stats[kv[1]] = strings.Trim(kv[2], `"`)
	}
	return stats
}

// The tools people use on a mail folder see exactly the server's messages.
func TestRealTools(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		nested := s.Personal("Büro", "2025")
		s.CreateMailbox(t, u, s.Personal("Büro"))
		s.CreateMailbox(t, u, nested)
		seedSome(t, s, u, "INBOX", 5)
		seedSome(t, s, u, nested, 3)
		m := test.Mount(t, s, u)
		inbox := mailboxDir(m, s, "INBOX")
		stored := s.Messages(t, u, "INBOX")
		first := filepath.Join(inbox, fmt.Sprintf("%d.eml", stored[0].UID))
		body := s.Body(t, u, "INBOX", stored[0].UID)

		if out := run(t, "ls", "-la", inbox); strings.Count(out, "-rw-------") != len(stored) {
			t.Errorf("ls -la:\n%s", out)
		}
		want := fmt.Sprintf("%d %d", stored[0].Size, stored[0].InternalDate.Unix())
		if out := strings.TrimSpace(run(t, "stat", "-c", "%s %Y", first)); out != want {
			t.Errorf("stat: %q, want %q", out, want)
		}
		if out := run(t, "head", "-c", "10", first); out != string(body[:10]) {
			t.Errorf("head -c 10: %q", out)
		}
		if out := run(t, "dd", "if="+first, "bs=1", "skip=5", "count=7", "status=none"); out != string(body[5:12]) {
			t.Errorf("dd: %q, want %q", out, body[5:12])
		}
		if out := run(t, "grep", "-rl", "Subject: hello 3", m.Dir); !strings.Contains(out, fmt.Sprintf("INBOX/%d.eml", stored[3].UID)) {
			t.Errorf("grep -rl:\n%s", out)
		}
		if out := run(t, "find", m.Dir, "-name", "*.eml"); strings.Count(out, ".eml") != 8 {
			t.Errorf("find found:\n%s", out)
		}
		copyDir := t.TempDir()
		run(t, "cp", "-r", inbox, copyDir)
		for _, sm := range stored {
			data, err := os.ReadFile(filepath.Join(copyDir, "INBOX", fmt.Sprintf("%d.eml", sm.UID)))
			if err != nil || !bytes.Equal(data, s.Body(t, u, "INBOX", sm.UID)) {
				t.Errorf("cp -r: UID %d differs (%v)", sm.UID, err)
			}
		}
		if out := run(t, "sh", "-c", "tar cf - -C '"+m.Dir+"' . | tar tf -"); strings.Count(out, ".eml") != 8 {
			t.Errorf("tar lists:\n%s", out)
		}

		// rsync -a: a byte-exact backup with mtimes equal to INTERNALDATE.
		backup := t.TempDir()
		run(t, "rsync", "-a", m.Dir+"/", backup+"/")
		for _, mailbox := range []string{"INBOX", nested} {
			dir := filepath.Join(backup, filepath.Join(strings.Split(mailbox, s.Delimiter)...))
			for _, sm := range s.Messages(t, u, mailbox) {
				path := filepath.Join(dir, fmt.Sprintf("%d.eml", sm.UID))
				info, err := os.Stat(path)
				data, _ := os.ReadFile(path)
				if err != nil || !bytes.Equal(data, s.Body(t, u, mailbox, sm.UID)) || !info.ModTime().Equal(sm.InternalDate) {
					t.Errorf("rsync copy of %s UID %d: %v, mtime %v want %v", mailbox, sm.UID, err, info.ModTime(), sm.InternalDate)
				}
			}
		}
		if stats := unmountStats(t, m); stats["body_fetches"] == "0" {
			t.Errorf("the first rsync fetched no body? %v", stats)
		}

		// A second rsync on a fresh mount transfers nothing and fetches no
		// body: it only sets the directories' times on the copy, as a new
		// mount shows every directory changed once (see docs/usage.md).
		m2 := test.Mount(t, s, u)
		for _, line := range strings.Split(strings.TrimSpace(run(t, "rsync", "-ai", m2.Dir+"/", backup+"/")), "\n") {
			if line != "" && !strings.HasPrefix(line, ".d..t...... ") {
				t.Errorf("second rsync transferred: %s", line)
			}
		}
		if out := run(t, "rsync", "-ai", m2.Dir+"/", backup+"/"); strings.TrimSpace(out) != "" {
			t.Errorf("a third rsync on the same mount found something to update:\n%s", out)
		}
		if stats := unmountStats(t, m2); stats["body_fetches"] != "0" {
			t.Errorf("second rsync fetched bodies: %v", stats)
		}
		noneSeen(t, s, u, "INBOX")
	})
}

// A read-only mount reads like any other and refuses every change.
func TestReadOnlyMount(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		uids := seedSome(t, s, u, "INBOX", 2)
		m := test.Mount(t, s, u, "-o", "ro")
		inbox := mailboxDir(m, s, "INBOX")
		file := filepath.Join(inbox, strconv.FormatUint(uint64(uids[0]), 10)+".eml")
		if _, err := os.ReadFile(file); err != nil {
			t.Fatal(err)
		}
		for _, cmd := range [][]string{
			{"sh", "-c", "echo x >> '" + file + "'"},
			{"touch", filepath.Join(inbox, "new.eml")},
			{"mkdir", filepath.Join(m.Dir, "New")},
		} {
			out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput()
			if err == nil || !strings.Contains(string(out), "Read-only file system") {
				t.Errorf("%v: %v %s", cmd, err, out)
			}
		}
		if got := s.Messages(t, u, "INBOX"); len(got) != 2 {
			t.Errorf("server has %d messages", len(got))
		}
	})
}

// Mail that another client adds or expunges shows up within a few seconds.
func TestListingFollowsServer(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		uids := seedSome(t, s, u, "INBOX", 2)
		m := test.Mount(t, s, u)
		inbox := mailboxDir(m, s, "INBOX")
		names := func() []string {
			entries, _ := os.ReadDir(inbox)
			var n []string
			for _, e := range entries {
				n = append(n, e.Name())
			}
			return n
		}
		if got := names(); len(got) != 2 {
			t.Fatalf("listing %v", got)
		}
		added := seedSome(t, s, u, "INBOX", 1)[0]
		c := s.Session(t, u)
		if _, _, err := c.Run("SELECT INBOX"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Run(fmt.Sprintf("UID STORE %d +FLAGS.SILENT (\\Deleted)", uids[0])); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Run(fmt.Sprintf("UID EXPUNGE %d", uids[0])); err != nil {
			t.Fatal(err)
		}
		want := []string{fmt.Sprintf("%d.eml", uids[1]), fmt.Sprintf("%d.eml", added)}
		deadline := time.Now().Add(10 * time.Second)
		for !slices.Equal(names(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("listing %v, want %v", names(), want)
			}
			time.Sleep(200 * time.Millisecond)
		}

		// Flags another client changes, on a message listed before.
		if _, _, err := c.Run(fmt.Sprintf("UID STORE %d FLAGS.SILENT (\\Seen $Elsewhere)", uids[1])); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(inbox, fmt.Sprintf("%d.eml", uids[1]))
		for {
			names() // what a user's ls does: the listing is refreshed
			flags := getfattr(t, "user.imap.flags", file)
			if strings.Contains(flags, `\Seen`) && strings.Contains(flags, "$Elsewhere") && !strings.Contains(flags, `\Flagged`) {
				break
			}
			if time.Now().After(deadline.Add(10 * time.Second)) {
				t.Fatalf("user.imap.flags still %q after another client changed them", flags)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
}

// A walk over a mailbox, in UID order (grep -r) or name order (rsync),
// is served by bulk prefetches, and no body is fetched twice.
func TestSequentialPrefetch(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		const n = 60
		seedSome(t, s, u, "INBOX", n)
		for _, walk := range [][]string{
			{"grep", "-rc", "Subject"},
			{"rsync", "-a", "--whole-file"},
		} {
			t.Run(walk[0], func(t *testing.T) {
				m := test.Mount(t, s, u)
				args := append(walk[1:], m.Dir+"/")
				if walk[0] == "rsync" {
					args = append(args, t.TempDir()+"/")
				}
				exec.Command(walk[0], args...).Run() // grep -c exits 1 for files without a match
				stats := unmountStats(t, m)
				t.Logf("%s: %v", walk[0], stats)
				if stats["body_fetches"] != strconv.Itoa(n) {
					t.Errorf("%d messages, %s body fetches: %v", n, stats["body_fetches"], stats)
				}
				if p, _ := strconv.Atoi(stats["prefetches"]); p == 0 || p > n/4 {
					t.Errorf("%s prefetch commands for %d messages: %v", stats["prefetches"], n, stats)
				}
			})
		}
	})
}

// Another user's mailbox shared with us appears under its namespace
// prefix: shared/OWNER/ on Dovecot, user/OWNER/ on Cyrus.
func TestOtherUsersNamespace(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		owner, reader := s.NewUser(t), s.NewUser(t)
		uids := seedSome(t, s, owner, "INBOX", 2)
		c := s.Session(t, owner)
		if _, _, err := c.Run("SETACL INBOX " + reader.Name + " lr"); err != nil {
			t.Fatal(err)
		}
		m := test.Mount(t, s, reader)
		dir := filepath.Join(m.Dir, "shared", owner.Name)
		if s.Kind == "cyrus" {
			dir = filepath.Join(m.Dir, "user", owner.Name)
		}
		var want []string
		for _, uid := range uids {
			want = append(want, fmt.Sprintf("%d.eml", uid))
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			entries, err := os.ReadDir(dir)
			var got []string
			for _, e := range entries {
				if !e.IsDir() {
					got = append(got, e.Name())
				}
			}
			if err == nil && slices.Equal(got, want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v %v, want %v\n%s", dir, got, err, want, run(t, "find", m.Dir))
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
}

// A mailbox name with "%" appears with %25, and inodes stay the same
// across mounts. (Cyrus refuses both "%" and "/" in names, and Dovecot's
// delimiter is "/", so "/" shown as %2F is covered by names_test.go only.)
func TestEscapedNamesAndStableInodes(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		names, want := []string{s.Personal("50% off")}, []string{"50%25 off"}
		if s.Kind == "cyrus" {
			names, want = []string{s.Personal("Plain")}, []string{"Plain"}
		}
		for _, n := range names {
			s.CreateMailbox(t, u, n)
			seedSome(t, s, u, n, 1)
		}
		inodes := map[string]uint64{}
		for round := range 2 {
			m := test.Mount(t, s, u)
			parent := m.Dir
			if s.Kind == "cyrus" {
				parent = filepath.Join(m.Dir, "INBOX")
			}
			for _, w := range want {
				path := filepath.Join(parent, w, "1.eml")
				st, err := statT(path)
				if err != nil {
					t.Fatalf("%s: %v\n%s", path, err, run(t, "find", m.Dir))
				}
				if round == 1 && inodes[w] != st.Ino {
					t.Errorf("%s: inode %d, was %d on the first mount", w, st.Ino, inodes[w])
				}
				inodes[w] = st.Ino
			}
			m.Unmount(t)
		}
	})
}

// Mailbox names that cannot all be file names: Dovecot refuses to create
// names with an empty component ("/lead", "a//b", "x/") but lists those
// it finds on disk. They are left out (and logged), and the rest of the
// tree lists and opens: readdir fails nowhere, and every entry listed can
// be looked up.
func TestUnmappableMailboxNames(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	seedSome(t, s, u, "INBOX", 1)
	s.CreateMailbox(t, u, "ok")
	seedSome(t, s, u, "ok", 2)
	// Maildir++ folders, "." the separator on disk: ".a..b" is "a//b".
	home := filepath.Join(s.Dir, "mail", u.Name)
	for _, folder := range []string{".a..b", "..lead", ".x.", ".a.c"} {
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(home, folder, sub), 0o700); err != nil {
				t.Fatal(err)
			}
		}
	}
	run(t, "chown", "-R", "dovecot:dovecot", home)
	m := test.Mount(t, s, u)
	root := strings.Fields(run(t, "ls", m.Dir))
	for _, want := range []string{"INBOX", "ok", "a", "x"} {
		if !slices.Contains(root, want) {
			t.Errorf("ls lists %v, without %s\n%s", root, want, m.Log())
		}
	}
	// find stats every entry it lists: it fails on one that cannot be
	// opened or a directory that cannot be read.
	out := run(t, "find", m.Dir)
	for _, want := range []string{"/a/c", "/ok/"} {
		if !strings.Contains(out, want) {
			t.Errorf("find does not show %s:\n%s", want, out)
		}
	}
	if !strings.Contains(m.Log(), "cannot be a file name") {
		t.Errorf("the names left out are not logged:\n%s", m.Log())
	}
}

// Another client deletes a mailbox the mount has open and creates it
// again, with other messages under the same UIDs. Dovecot keeps the old
// selection: it answers NOOP with "* NO Internal error" and serves the
// old listing from its index, unless a command needs what the index lost
// (MODSEQ, with CONDSTORE) and it says BYE. The mount notices the NO,
// selects the mailbox anew, and shows the new messages within the
// documented delay (with a margin for a slow machine), never the old ones.
func TestMailboxDeletedAndCreatedAgain(t *testing.T) {
	for _, server := range []struct{ name, capabilities string }{
		{"condstore", ""},
		{"no-condstore", "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT CHILDREN UIDPLUS MOVE ESEARCH"},
	} {
		t.Run(server.name, func(t *testing.T) {
			s := test.StartDovecotWith(t, test.DovecotOptions{Capabilities: server.capabilities})
			u := s.NewUser(t)
			s.CreateMailbox(t, u, "D")
			old := seedSome(t, s, u, "D", 2)
			m := test.Mount(t, s, u)
			dir := mailboxDir(m, s, "D")
			if entries, err := os.ReadDir(dir); err != nil || len(entries) != len(old) {
				t.Fatalf("%s lists %d entries (%v), want %d", dir, len(entries), err, len(old))
			}
			c := s.Session(t, u)
			for _, cmd := range []string{"DELETE D", "CREATE D"} {
				if _, _, err := c.Run(cmd); err != nil {
					t.Fatal(err)
				}
			}
			var fresh []test.Message
			for i := range 3 {
				fresh = append(fresh, test.Message{Body: []byte(fmt.Sprintf("Subject: new %d\r\n\r\nthe mailbox made again, message %d\r\n", i, i))})
			}
			uids := s.Seed(t, u, "D", fresh...)
			if uids[0] != old[0] {
				t.Fatalf("the new mailbox's UIDs %v do not reuse the old ones %v", uids, old)
			}
			check := func() string {
				entries, err := os.ReadDir(dir)
				if err != nil {
					return err.Error()
				}
				if len(entries) != len(uids) {
					return fmt.Sprintf("%d entries, want %d", len(entries), len(uids))
				}
				for i, uid := range uids {
					data, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("%d.eml", uid)))
					if err != nil || !bytes.Equal(data, fresh[i].Body) {
						return fmt.Sprintf("%d.eml reads %.40q, %v", uid, data, err)
					}
				}
				return ""
			}
			for deadline := time.Now().Add(settleDelay); ; time.Sleep(200 * time.Millisecond) {
				diff := check()
				if diff == "" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%v after the mailbox was made again: %s\n%s", settleDelay, diff, m.Log())
				}
			}
		})
	}
}

// statT is stat(2) as a user's tool sees it: retried when a signal
// interrupts it (Go's runtime signals its threads all the time, and a FUSE
// request cut short by one answers EINTR), as os.Stat does.
func statT(path string) (syscall.Stat_t, error) {
	var st syscall.Stat_t
	for {
		err := syscall.Stat(path, &st)
		if err != syscall.EINTR {
			return st, err
		}
	}
}
