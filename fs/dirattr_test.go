package fs_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"imapfs/test"
)

// commandsDuring counts the IMAP commands the mount sends while f runs.
func commandsDuring(t *testing.T, m *test.Mounted, f func()) int64 {
	t.Helper()
	before := m.Stats(t)["commands"]
	f()
	return m.Stats(t)["commands"] - before
}

// makeMailboxes creates n mailboxes M0... for u, a few with a message.
func makeMailboxes(t *testing.T, s *test.Server, u test.User, n int) {
	t.Helper()
	for i := range n {
		name := s.Personal("M" + strconv.Itoa(i))
		s.CreateMailbox(t, u, name)
		if i%10 == 0 {
			seedSome(t, s, u, name, 1)
		}
	}
}

// The attributes of many mailbox directories (stat, ls -l) cost a few
// commands, however many mailboxes there are: they come from the state of
// every mailbox fetched at once. A repeat within --dir-cache-time costs
// none.
func TestStatManyMailboxesFewCommands(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		const n = 50
		makeMailboxes(t, s, u, n)
		m := test.Mount(t, s, u, "--dir-cache-time", "1m")
		var dirs []string
		for i := range n {
			dirs = append(dirs, mailboxDir(m, s, s.Personal("M"+strconv.Itoa(i))))
		}
		statAll := func() {
			if out := run(t, "stat", append([]string{"-c", "%Y"}, dirs...)...); strings.Count(out, "\n") != n {
				t.Fatalf("stat:\n%s", out)
			}
		}
		statAll()
		first := m.Stats(t)["commands"] // the mount's own included
		again := commandsDuring(t, m, statAll)
		top := filepath.Dir(dirs[0]) // INBOX on Cyrus, the mount's root on Dovecot
		ls := commandsDuring(t, m, func() {
			if out := run(t, "ls", "-l", top); strings.Count(out, "\nd") < n {
				t.Fatalf("ls -l %s:\n%s", top, out)
			}
		})
		t.Logf("%s: mount and stat of %d mailbox directories sent %d commands; again %d; then ls -l of them %d", s.Kind, n, first, again, ls)
		limit := int64(10)
		if !hasListStatus(t, s, u) {
			limit += n + 1 // the STATUS of every mailbox, pipelined
		}
		if first > limit || again != 0 {
			t.Errorf("mount and stat of %d mailbox directories sent %d commands (want at most %d), and again %d (want 0)", n, first, limit, again)
		}
		if stats := m.Stats(t); stats["selects"] != 0 && top == m.Dir {
			t.Errorf("ls -l selected mailboxes: %v", stats)
		}
	})
}

// hasListStatus tells whether the server announces LIST-STATUS.
func hasListStatus(t *testing.T, s *test.Server, u test.User) bool {
	t.Helper()
	lines, _, err := s.Session(t, u).Run("CAPABILITY")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(strings.Join(lines, " "), " LIST-STATUS")
}

// Without LIST-STATUS the state of every mailbox comes from STATUS
// commands all sent before the first answer: with the server's answers
// held back after the first STATUS, the client still sends the last one.
func TestMailboxStatesPipelinedWithoutListStatus(t *testing.T) {
	s := test.StartDovecotWith(t, test.DovecotOptions{NoTLS: true,
		Capabilities: "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT CHILDREN LIST-EXTENDED ESEARCH UIDPLUS"})
	p := test.StartProxy(t, s.Addr(), test.ProxyOptions{})
	u := s.NewUser(t)
	const n = 20
	makeMailboxes(t, s, u, n)
	// Armed before mounting: the mount asks for the folder list as soon
	// as it has logged in.
	held := p.Arm(test.Fault{Command: "STATUS", AfterCommand: true, Stall: true, Dir: test.ToClient})
	last := p.Arm(test.Fault{Command: "STATUS", Nth: n + 1, AfterCommand: true}) // INBOX too
	defer held.Release()
	m := mountPlainVia(t, p, u)
	ls := exec.Command("ls", "-l", m.Dir)
	if err := ls.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-last.Fired():
	case <-time.After(20 * time.Second):
		t.Errorf("the STATUS commands were not sent together while the first one's answer was held\n%s", m.Log())
	}
	last.Release()
	held.Release()
	if err := ls.Wait(); err != nil {
		t.Fatalf("ls -l: %v\n%s", err, m.Log())
	}
}

// A directory's mtime changes when its listing does, from the state of
// every mailbox fetched at once, and stays while nothing changes: a
// mailbox's when another client expunges or adds a message, the root's
// and a \Noselect level's when a mailbox is made below.
func TestDirMtimeFollowsListing(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		box := s.Personal("Box")
		s.CreateMailbox(t, u, box)
		seedSome(t, s, u, box, 3)
		s.CreateMailbox(t, u, s.Personal("Level", "One"))
		m := test.Mount(t, s, u, "--dir-cache-time", "100ms")
		boxDir := mailboxDir(m, s, box)
		levelDir := mailboxDir(m, s, s.Personal("Level"))
		top := filepath.Dir(boxDir) // INBOX on Cyrus, the mount's root on Dovecot
		mtime := func(path string) int64 {
			t.Helper()
			v, err := strconv.ParseInt(strings.TrimSpace(run(t, "stat", "-c", "%Y", path)), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		times := func() [3]int64 { return [3]int64{mtime(top), mtime(boxDir), mtime(levelDir)} }
		// waitChange stats until the directories' times differ from was,
		// and returns them.
		waitChange := func(was [3]int64, what string) [3]int64 {
			t.Helper()
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				now := times()
				if now != was || time.Now().After(deadline) {
					return now
				}
			}
		}
		start := times()
		// Nothing changes: the times stay over several bulk checks.
		for before := m.Stats(t)["commands"]; m.Stats(t)["commands"] < before+6; time.Sleep(50 * time.Millisecond) {
			if now := times(); now != start {
				t.Fatalf("nothing changed, yet the times went from %v to %v", start, now)
			}
		}

		raw := s.Session(t, u)
		if _, _, err := raw.Run("SELECT " + strconv.Quote(box)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := raw.Run("STORE 1 +FLAGS.SILENT (\\Deleted)"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := raw.Run("EXPUNGE"); err != nil {
			t.Fatal(err)
		}
		expunged := waitChange(start, "expunge")
		if want := [3]int64{start[0], expunged[1], start[2]}; expunged != want || expunged[1] <= start[1] {
			t.Errorf("after another client's expunge in %s the times (root, %s, Level) went from %v to %v; want only %s's later", box, box, start, expunged, box)
		}

		seedSome(t, s, u, box, 1)
		arrived := waitChange(expunged, "arrival")
		if arrived[1] <= expunged[1] || arrived[0] != start[0] {
			t.Errorf("after a message arrived in %s the times went from %v to %v", box, expunged, arrived)
		}

		s.CreateMailbox(t, u, s.Personal("Fresh"))
		made := waitChange(arrived, "create")
		if want := [3]int64{made[0], arrived[1], arrived[2]}; made != want || made[0] <= arrived[0] {
			t.Errorf("after a mailbox was made the times (top, %s, Level) went from %v to %v; want only the top's later", box, arrived, made)
		}
		s.CreateMailbox(t, u, s.Personal("Level", "Two"))
		below := waitChange(made, "create below Level")
		if want := [3]int64{made[0], made[1], below[2]}; below != want || below[2] <= made[2] {
			t.Errorf("after a mailbox was made below Level the times went from %v to %v; want only Level's later", made, below)
		}
		if info, err := os.Stat(filepath.Join(top, "Fresh")); err != nil || !info.IsDir() {
			t.Errorf("the new mailbox: %v", err)
		}
	})
}

// A mailbox's listing older than --dir-cache-time is trusted anew when the
// state of every mailbox, fetched at once, shows it unchanged since: ls of
// the mailbox again costs no refresh of its own. A flag another client
// changes moves that state, and shows.
func TestListingVouchedByMailboxStates(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		box := s.Personal("Box")
		s.CreateMailbox(t, u, box)
		uids := seedSome(t, s, u, box, 3)
		m := test.Mount(t, s, u, "--dir-cache-time", "100ms")
		dir := mailboxDir(m, s, box)
		run(t, "ls", "-l", dir)
		before := m.Stats(t)
		for range 5 {
			time.Sleep(150 * time.Millisecond) // past --dir-cache-time
			run(t, "ls", "-l", dir)
		}
		after := m.Stats(t)
		if after["listing_refreshes"] != before["listing_refreshes"] || after["listings"] != before["listings"] {
			t.Errorf("ls of an unchanged mailbox refreshed its listing: %d refreshes and %d listings, then %d and %d",
				before["listing_refreshes"], before["listings"], after["listing_refreshes"], after["listings"])
		}

		raw := s.Session(t, u)
		if _, _, err := raw.Run("SELECT " + strconv.Quote(box)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := raw.Run(fmt.Sprintf("UID STORE %d +FLAGS.SILENT (\\Answered)", uids[1])); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, fmt.Sprintf("%d.eml", uids[1]))
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			run(t, "ls", "-l", dir)
			out, _ := exec.Command("getfattr", "--only-values", "-n", "user.imap.flags", file).Output()
			if strings.Contains(string(out), `\Answered`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the flag another client set does not show: %q\n%s", out, m.Log())
			}
		}
	})
}

// The folder list takes the state of the mailbox its connection has
// selected from its LIST-STATUS answer, read after a NOOP sent just
// ahead of it, never from a STATUS command: RFC 3501 says STATUS
// SHOULD NOT be used on the selected mailbox (Dovecot answers
// "[CLIENTBUG]"), and it cost one more round trip each time the list of
// mailboxes was fetched anew. What another client adds to that mailbox
// still shows in its directory's mtime.
func TestFolderListAsksNoStatusOfTheSelectedMailbox(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		box := s.Personal("Box")
		s.CreateMailbox(t, u, box)
		seedSome(t, s, u, box, 3)
		m := test.Mount(t, s, u, "-d", "--connections", "1", "--dir-cache-time", "100ms")
		dir := mailboxDir(m, s, box)
		run(t, "ls", "-l", dir) // Box is now selected on the one connection
		st, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		seedSome(t, s, u, box, 1)
		changed := false
		for deadline := time.Now().Add(10 * time.Second); !changed && time.Now().Before(deadline); {
			time.Sleep(150 * time.Millisecond) // past --dir-cache-time
			run(t, "ls", "-l", m.Dir)
			now, err := os.Stat(dir)
			if err != nil {
				t.Fatal(err)
			}
			changed = !now.ModTime().Equal(st.ModTime())
		}
		if !changed {
			t.Errorf("%s: mtime %v stayed after another client added a message", dir, st.ModTime())
		}
		log, err := os.ReadFile(m.LogFile)
		if err != nil {
			t.Fatal(err)
		}
		status := regexp.MustCompile(`C: T[0-9]+ STATUS "?` + regexp.QuoteMeta(box) + `"? \(`)
		if found := status.FindAll(log, -1); len(found) > 0 {
			t.Errorf("%d STATUS commands of the selected mailbox, e.g. %q", len(found), found[0])
		}
	})
}
