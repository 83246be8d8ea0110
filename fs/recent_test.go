package fs_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"imapfs/test"
)

// recentUIDs selects mailbox in a session of its own, as a mail client
// does, and returns the UIDs the server shows it as \Recent (this session
// then holds them: RFC 3501 gives \Recent to one session only).
func recentUIDs(t *testing.T, s *test.Server, u test.User, mailbox string) []string {
	t.Helper()
	raw := s.Session(t, u)
	defer raw.Close() // before more mail comes: it would be \Recent here
	ask := answerer(t, raw)
	ask(`SELECT "` + mailbox + `"`)
	var uids []string
	for _, line := range strings.Split(ask("FETCH 1:* (UID FLAGS)"), "\n") {
		f := strings.Fields(strings.NewReplacer("(", " ", ")", " ").Replace(line))
		if i := slices.Index(f, "UID"); i >= 0 && i+1 < len(f) && slices.Contains(f, `\Recent`) {
			uids = append(uids, f[i+1])
		}
	}
	slices.Sort(uids)
	return uids
}

// Reading through the mount changes nothing on the server: new mail stays
// \Recent for the client that selects the mailbox next, before and after
// changes made through the mount (which SELECT), and rm, mv and setfattr
// still work after the reads.
func TestReadingLeavesRecent(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		box, other := s.Personal("Box"), s.Personal("Other")
		s.CreateMailbox(t, u, box)
		s.CreateMailbox(t, u, other)
		uids := seedSome(t, s, u, box, 3)
		m := test.Mount(t, s, u, "--connections=1")
		dir, otherDir := mailboxDir(m, s, box), mailboxDir(m, s, other)
		name := func(uid uint32) string { return filepath.Join(dir, fmt.Sprintf("%d.eml", uid)) }

		run(t, "ls", "-l", dir)
		for _, uid := range uids {
			run(t, "cat", name(uid))
			getfattr(t, "user.imap.flags", name(uid))
		}
		want := []string{fmt.Sprint(uids[0]), fmt.Sprint(uids[1]), fmt.Sprint(uids[2])}
		if got := recentUIDs(t, s, u, box); !slices.Equal(got, want) {
			t.Errorf("after reading through the mount, another client sees \\Recent on %v, want %v", got, want)
		}

		run(t, "rm", name(uids[0]))
		run(t, "mv", name(uids[1]), otherDir+"/")
		run(t, "setfattr", "-n", "user.imap.flags", "-v", `\Answered`, name(uids[2]))
		left := s.Messages(t, u, box)
		if len(left) != 1 || left[0].UID != uids[2] || !slices.Equal(left[0].Flags, []string{`\Answered`}) {
			t.Errorf("after rm, mv and setfattr the mailbox holds %+v, want UID %d with \\Answered", left, uids[2])
		}
		if moved := s.Messages(t, u, other); len(moved) != 1 {
			t.Errorf("after mv the target holds %+v, want one message", moved)
		}

		// Mail that arrives after those changes is read on a connection
		// that EXAMINEs, not on the one they SELECTed.
		fresh := seedSome(t, s, u, box, 1)[0]
		waitListing(t, dir, fmt.Sprintf("%d.eml", fresh), "")
		run(t, "cat", name(fresh))
		if _, err := os.Stat(name(fresh)); err != nil {
			t.Fatal(err)
		}
		if got := recentUIDs(t, s, u, box); !slices.Equal(got, []string{fmt.Sprint(fresh)}) {
			t.Errorf("after reading new mail through the mount, another client sees \\Recent on %v, want [%d]", got, fresh)
		}
	})
}
