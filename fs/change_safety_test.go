package fs_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"imapfs/test"
)

var statusUIDValidity = regexp.MustCompile(`UIDVALIDITY (\d+)`)

// uidValidityOf asks the server, through a raw session, for a mailbox's
// UIDVALIDITY.
func uidValidityOf(t *testing.T, c *test.Raw, mailbox string) string {
	t.Helper()
	untagged, _, err := c.Run(`STATUS "` + mailbox + `" (UIDVALIDITY)`)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range untagged {
		if m := statusUIDValidity.FindStringSubmatch(line); m != nil {
			return m[1]
		}
	}
	t.Fatalf("STATUS gave no UIDVALIDITY: %q", untagged)
	return ""
}

// rm and mv act on the message the kernel's node stands for: once another
// client has deleted and recreated the mailbox (a new UIDVALIDITY) with
// messages of the same UIDs, a name the kernel still holds from before
// names a message that is gone (ENOENT; not ESTALE, on which the kernel
// would look the name up again and repeat the change on the new message),
// and the new messages of those UIDs stay.
func TestRemoveMoveAfterMailboxRecreated(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		box, other := s.Personal("Box"), s.Personal("Other")
		s.CreateMailbox(t, u, box)
		s.CreateMailbox(t, u, other)
		old := seedSome(t, s, u, box, 2)
		// One connection, so that it leaves the old mailbox for another.
		m := test.Mount(t, s, u, "--connections=1")
		dir, otherDir := mailboxDir(m, s, box), mailboxDir(m, s, other)
		// The kernel now holds both names (entries valid for a minute).
		for _, uid := range old {
			if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("%d.eml", uid))); err != nil {
				t.Fatal(err)
			}
		}

		c := s.Session(t, u)
		before := uidValidityOf(t, c, box)
		if _, _, err := c.Run(`DELETE "` + box + `"`); err != nil {
			t.Fatal(err)
		}
		s.CreateMailbox(t, u, box)
		var fresh []test.Message
		for i := range old {
			fresh = append(fresh, test.Message{
				Body: []byte(fmt.Sprintf("From: new@example.com\r\nSubject: new %d\r\n\r\nnew %d\r\n", i, i)),
				Date: time.Date(2025, 1, 1+i, 12, 0, 0, 0, time.UTC),
			})
		}
		uids := s.Seed(t, u, box, fresh...)
		if after := uidValidityOf(t, c, box); after == before || fmt.Sprint(uids) != fmt.Sprint(old) {
			t.Fatalf("recreated mailbox: UIDVALIDITY %s → %s, UIDs %v → %v; the test needs the same UIDs under a new UIDVALIDITY", before, after, old, uids)
		}

		// The mount's connection leaves the old mailbox: what it selects
		// next is the new one.
		run(t, "ls", otherDir)

		rm := exec.Command("rm", filepath.Join(dir, fmt.Sprintf("%d.eml", old[0])))
		if out, err := rm.CombinedOutput(); err == nil || !strings.Contains(string(out), "No such file") {
			t.Errorf("rm of a message whose mailbox was recreated: %v %s, want ENOENT", err, out)
		}
		mv := exec.Command("mv", filepath.Join(dir, fmt.Sprintf("%d.eml", old[1])), otherDir+"/")
		if out, err := mv.CombinedOutput(); err == nil || !strings.Contains(string(out), "No such file") {
			t.Errorf("mv of a message whose mailbox was recreated: %v %s, want ENOENT", err, out)
		}
		if left := s.Messages(t, u, box); len(left) != len(fresh) {
			t.Errorf("the recreated mailbox holds %+v, want its %d new messages", left, len(fresh))
		}
		if moved := s.Messages(t, u, other); len(moved) != 0 {
			t.Errorf("the target holds %+v, want nothing", moved)
		}
	})
}

// A UID EXPUNGE the server refuses leaves no \Deleted behind: the message
// would otherwise vanish at the next expunge by anyone, while rm said it
// failed. A \Deleted another client set before stays.
func TestRemoveExpungeRefused(t *testing.T) {
	test.RequireFUSE(t)
	s := test.StartScripted(t, test.Variation{RefuseUIDExpunge: true})
	msgs := scriptedMessages(2)
	msgs[1].Flags = append(msgs[1].Flags, `\Deleted`)
	uids := s.Seed(t, "INBOX", msgs...)
	m := s.Mount(t)
	defer func() {
		if t.Failed() {
			t.Logf("imapfs log:\n%s\nthe server's transcript:\n%s", m.Log(), s.Transcript(12000))
		}
	}()
	for _, uid := range uids {
		name := filepath.Join(m.Dir, "INBOX", fmt.Sprintf("%d.eml", uid))
		if out, err := exec.Command("rm", name).CombinedOutput(); err == nil {
			t.Errorf("rm %s with UID EXPUNGE refused succeeded: %s", name, out)
		}
	}
	got := s.Messages(t, "INBOX")
	if len(got) != 2 {
		t.Fatalf("server holds %+v, want both messages", got)
	}
	if want := []string{`\Flagged`}; !slices.Equal(got[0].Flags, want) {
		t.Errorf("flags of the message rm failed on: %q, want %q", got[0].Flags, want)
	}
	if want := []string{`\Deleted`, `\Flagged`}; !slices.Equal(got[1].Flags, want) {
		t.Errorf("flags of the message another client flagged \\Deleted: %q, want %q", got[1].Flags, want)
	}
}

// Without MOVE and UIDPLUS a message cannot be moved alone (its removal
// from the source would need a plain EXPUNGE): mv is refused before
// anything is copied, so that each attempt does not leave one more copy
// in the target.
func TestMoveWithoutMoveOrUIDPlus(t *testing.T) {
	test.RequireFUSE(t)
	s := test.StartScripted(t, test.Variation{Capabilities: without("MOVE", "UIDPLUS")})
	uids := s.Seed(t, "INBOX", scriptedMessages(2)...)
	s.CreateMailbox(t, "Work")
	m := s.Mount(t)
	defer func() {
		if t.Failed() {
			t.Logf("imapfs log:\n%s\nthe server's transcript:\n%s", m.Log(), s.Transcript(12000))
		}
	}()
	for range 2 {
		out, err := exec.Command("mv", filepath.Join(m.Dir, "INBOX", fmt.Sprintf("%d.eml", uids[0])), filepath.Join(m.Dir, "Work")+"/").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "not supported") {
			t.Errorf("mv without MOVE and UIDPLUS: %v %s, want EOPNOTSUPP", err, out)
		}
	}
	if got := s.Messages(t, "Work"); len(got) != 0 {
		t.Errorf("the target holds %+v, want nothing", got)
	}
	if got := s.Messages(t, "INBOX"); len(got) != len(uids) || len(got[0].Flags) != 1 {
		t.Errorf("the source holds %+v, want its messages as they were", got)
	}
}

// Without MOVE, a COPY whose connection drops before its answer may have
// landed: mv fails (EIO), and the mv tried again finds that copy instead
// of copying once more, then removes the source.
func TestMoveRetriedAfterCopyCutOff(t *testing.T) {
	test.RequireFUSE(t)
	s := test.StartScripted(t, test.Variation{Capabilities: without("MOVE"), DropAfterCopy: true})
	uids := s.Seed(t, "INBOX", scriptedMessages(2)...)
	body := s.Body(t, "INBOX", uids[1])
	s.CreateMailbox(t, "Work")
	m := s.Mount(t)
	defer func() {
		if t.Failed() {
			t.Logf("imapfs log:\n%s\nthe server's transcript:\n%s", m.Log(), s.Transcript(12000))
		}
	}()
	src, dst := filepath.Join(m.Dir, "INBOX", fmt.Sprintf("%d.eml", uids[1])), filepath.Join(m.Dir, "Work")+"/"
	if out, err := exec.Command("mv", src, dst).CombinedOutput(); err == nil || !strings.Contains(string(out), "Input/output error") {
		t.Fatalf("mv cut off after the COPY: %v %s, want EIO", err, out)
	}
	if got := s.Messages(t, "Work"); len(got) != 1 {
		t.Fatalf("after the cut-off COPY the target holds %+v, want the copy", got)
	}
	run(t, "mv", src, dst)
	got := s.Messages(t, "Work")
	if len(got) != 1 || string(s.Body(t, "Work", got[0].UID)) != string(body) {
		t.Errorf("the target holds %+v, want one copy", got)
	}
	if left := s.Messages(t, "INBOX"); len(left) != 1 || left[0].UID != uids[0] {
		t.Errorf("the source holds %+v, want UID %d alone", left, uids[0])
	}
	copies := 0
	for _, c := range s.Commands() {
		if strings.HasPrefix(c, "UID COPY") {
			copies++
		}
	}
	if copies != 1 {
		t.Errorf("%d UID COPY commands, want 1", copies)
	}
}

// A move without MOVE whose copy was made but whose removal from the
// source failed leaves the copy; trying the move again must find that copy
// instead of making another, however often it is tried.
func TestMoveRetriedAfterRemovalFailed(t *testing.T) {
	test.RequireFUSE(t)
	s := test.StartScripted(t, test.Variation{Capabilities: without("MOVE"), RefuseUIDExpunge: true})
	uid := s.Seed(t, "INBOX", scriptedMessages(1)...)[0]
	s.CreateMailbox(t, "Work")
	m := s.Mount(t)
	defer func() {
		if t.Failed() {
			t.Logf("imapfs log:\n%s\nthe server's transcript:\n%s", m.Log(), s.Transcript(12000))
		}
	}()
	name := filepath.Join(m.Dir, "INBOX", fmt.Sprintf("%d.eml", uid))
	for range 2 {
		if out, err := exec.Command("mv", name, filepath.Join(m.Dir, "Work")+"/").CombinedOutput(); err == nil {
			t.Fatalf("mv with UID EXPUNGE refused succeeded: %s", out)
		}
	}
	if got := s.Messages(t, "Work"); len(got) != 1 {
		t.Errorf("Work holds %d copies after two attempts, want 1", len(got))
	}
	if got := s.Messages(t, "INBOX"); len(got) != 1 || slices.Contains(got[0].Flags, `\Deleted`) {
		t.Errorf("INBOX holds %+v, want the message without \\Deleted", got)
	}
}
