package fs_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"imapfs/test"
)

// Faults cut the connection of a change once the server has it, and the
// server's state is then read through its own tools, not the proxy: no
// message may end in no mailbox, or twice in one, whatever the cut.

// mountPlainVia mounts u's account through p, a proxy to a server's
// plaintext port, in plaintext, so that p can cut at a command. Extra
// flags come before SERVER.
func mountPlainVia(t *testing.T, p *test.Proxy, u test.User, flags ...string) *test.Mounted {
	t.Helper()
	home := t.TempDir()
	argv := append([]string{test.Imapfs(t), "-f", "--plaintext"}, flags...)
	argv = append(argv, "imap://"+u.Name+"@"+p.Addr)
	m := test.MountCommand(t, argv, []string{"IMAPFS_PASSWORD=" + u.Password,
		"XDG_CACHE_HOME=" + filepath.Join(home, "cache"), "XDG_STATE_HOME=" + filepath.Join(home, "state")})
	m.Home = home
	return m
}

// plainDovecot is a private Dovecot without TLS, for command faults.
func plainDovecot(t *testing.T) (*test.Server, test.User, *test.Proxy) {
	t.Helper()
	s := test.StartDovecotWith(t, test.DovecotOptions{NoTLS: true})
	return s, s.NewUser(t), test.StartProxy(t, s.Addr(), test.ProxyOptions{})
}

// copiesOf counts the messages of each mailbox whose bytes are body.
func copiesOf(t *testing.T, s *test.Server, u test.User, body []byte, mailboxes ...string) []int {
	t.Helper()
	var n []int
	for _, box := range mailboxes {
		k := 0
		for _, b := range s.Bodies(t, u, box) {
			if bytes.Equal(b, body) {
				k++
			}
		}
		n = append(n, k)
	}
	return n
}

// cutAt arms a fault that cuts the connection sending the next command
// name, before it reaches the server or once all of it did.
func cutAt(p *test.Proxy, name string, after bool) *test.Armed {
	return p.Arm(test.Fault{Command: name, AfterCommand: after})
}

// fired tells whether a fault acted, releasing it.
func fired(a *test.Armed) bool {
	defer a.Release()
	select {
	case <-a.Fired():
		return true
	default:
		return false
	}
}

// A mv whose connection is cut before or right after UID MOVE reaches the
// server ends with the message in exactly one mailbox; mv fails (the user
// is told) unless the move is known to be done, and mv tried again leaves
// one copy, in the target.
func TestMoveCutOff(t *testing.T) {
	for _, after := range []bool{false, true} {
		t.Run(fmt.Sprintf("after=%v", after), func(t *testing.T) {
			s, u, p := plainDovecot(t)
			s.CreateMailbox(t, u, "Work")
			uids := seedSome(t, s, u, "INBOX", 3)
			body := s.Body(t, u, "INBOX", uids[1])
			m := mountPlainVia(t, p, u)
			src := filepath.Join(m.Dir, "INBOX", fmt.Sprintf("%d.eml", uids[1]))
			dst := filepath.Join(m.Dir, "Work") + "/"
			run(t, "ls", filepath.Join(m.Dir, "INBOX"), dst)

			cut := cutAt(p, "UID MOVE", after)
			out, err := exec.Command("mv", src, dst).CombinedOutput()
			if !fired(cut) {
				t.Fatalf("mv (%v %s) sent no UID MOVE through the proxy\n%s", err, out, m.Log())
			}
			n := copiesOf(t, s, u, body, "INBOX", "Work")
			t.Logf("mv cut off: %v %s; copies in INBOX, Work: %v", err, out, n)
			switch {
			case n[0]+n[1] == 0:
				t.Fatalf("the message is in no mailbox\n%s", m.Log())
			case n[0]+n[1] > 1 && err == nil:
				t.Errorf("mv succeeded with copies in INBOX, Work: %v", n)
			case err == nil && n[1] != 1:
				t.Errorf("mv succeeded with copies in INBOX, Work: %v", n)
			}
			if err == nil {
				return
			}
			// Tried again, as a user would after an error.
			out, err = exec.Command("mv", src, dst).CombinedOutput()
			n = copiesOf(t, s, u, body, "INBOX", "Work")
			if n[0] != 0 || n[1] != 1 {
				t.Errorf("after mv tried again (%v %s), copies in INBOX, Work: %v, want 0, 1\n%s", err, out, n, m.Log())
			}
			for _, sm := range s.Messages(t, u, "INBOX") {
				if slices.Contains(sm.Flags, `\Deleted`) {
					t.Errorf("UID %d of INBOX is left \\Deleted", sm.UID)
				}
			}
		})
	}
}

// Without MOVE a move is UID COPY, UID STORE \Deleted and UID EXPUNGE: a
// cut right after any of them leaves the message in one mailbox, or in
// both with mv failing; mv tried again copies nothing more and ends with
// the message in the target alone.
func TestMoveWithoutMOVECutOff(t *testing.T) {
	for _, command := range []string{"UID COPY", "UID STORE", "UID EXPUNGE"} {
		t.Run(strings.ReplaceAll(command, " ", "_"), func(t *testing.T) {
			test.RequireFUSE(t)
			s := test.StartScripted(t, test.Variation{Capabilities: without("MOVE")})
			uids := s.Seed(t, "INBOX", scriptedMessages(2)...)
			body := s.Body(t, "INBOX", uids[1])
			s.CreateMailbox(t, "Work")
			p := test.StartProxy(t, s.Addr(), test.ProxyOptions{})
			m := s.Mount(t, "--plaintext", "imap://"+s.User.Name+"@"+p.Addr)
			defer func() {
				if t.Failed() {
					t.Logf("imapfs log:\n%s\nthe server's transcript:\n%s", m.Log(), s.Transcript(12000))
				}
			}()
			src := filepath.Join(m.Dir, "INBOX", fmt.Sprintf("%d.eml", uids[1]))
			dst := filepath.Join(m.Dir, "Work") + "/"
			run(t, "ls", filepath.Join(m.Dir, "INBOX"), dst)
			copies := func() (int, int) {
				in, work := 0, 0
				for _, sm := range s.Messages(t, "INBOX") {
					if bytes.Equal(s.Body(t, "INBOX", sm.UID), body) {
						in++
					}
				}
				for _, sm := range s.Messages(t, "Work") {
					if bytes.Equal(s.Body(t, "Work", sm.UID), body) {
						work++
					}
				}
				return in, work
			}

			cut := cutAt(p, command, true)
			out, err := exec.Command("mv", src, dst).CombinedOutput()
			if !fired(cut) {
				t.Fatalf("mv (%v %s) sent no %s through the proxy", err, out, command)
			}
			in, work := copies()
			t.Logf("mv cut off after %s: %v %s; copies in INBOX, Work: %d, %d", command, err, out, in, work)
			if in+work == 0 {
				t.Fatal("the message is in no mailbox")
			}
			if err == nil && (in != 0 || work != 1) {
				t.Errorf("mv succeeded with copies in INBOX, Work: %d, %d", in, work)
			}
			if in+work > 1 && !strings.Contains(m.Log(), "mv ") {
				t.Errorf("the message is in both mailboxes and the log does not say so")
			}
			if err != nil {
				out, err = exec.Command("mv", src, dst).CombinedOutput()
			}
			if in, work = copies(); in != 0 || work != 1 {
				t.Errorf("after mv tried again (%v %s), copies in INBOX, Work: %d, %d, want 0, 1", err, out, in, work)
			}
			for _, sm := range s.Messages(t, "INBOX") {
				if slices.Contains(sm.Flags, `\Deleted`) {
					t.Errorf("UID %d of INBOX is left \\Deleted", sm.UID)
				}
			}
			n := 0
			for _, c := range s.Commands() {
				if strings.HasPrefix(c, "UID COPY") {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%d UID COPY commands, want 1", n)
			}
		})
	}
}

// An rm whose connection is cut right after its UID STORE \Deleted or its
// UID EXPUNGE reaches the server either removed the message and says so,
// or fails and leaves it without \Deleted; rm tried again removes it.
func TestRemoveCutOff(t *testing.T) {
	for _, command := range []string{"UID STORE", "UID EXPUNGE"} {
		t.Run(strings.ReplaceAll(command, " ", "_"), func(t *testing.T) {
			s, u, p := plainDovecot(t)
			uids := seedSome(t, s, u, "INBOX", 3)
			m := mountPlainVia(t, p, u)
			name := filepath.Join(m.Dir, "INBOX", fmt.Sprintf("%d.eml", uids[1]))
			run(t, "ls", filepath.Join(m.Dir, "INBOX"))

			cut := cutAt(p, command, true)
			out, err := exec.Command("rm", name).CombinedOutput()
			if !fired(cut) {
				t.Fatalf("rm (%v %s) sent no %s through the proxy\n%s", err, out, command, m.Log())
			}
			var left *test.StoredMessage
			for _, sm := range s.Messages(t, u, "INBOX") {
				if sm.UID == uids[1] {
					left = &sm
				}
			}
			t.Logf("rm cut off after %s: %v %s; message left: %+v", command, err, out, left)
			switch {
			case err == nil && left != nil:
				t.Errorf("rm succeeded and the message is still there: %+v\n%s", left, m.Log())
			case err != nil && left == nil:
				t.Errorf("rm failed (%v %s) and the message is gone\n%s", err, out, m.Log())
			case left != nil && slices.Contains(left.Flags, `\Deleted`):
				t.Errorf("rm failed and left \\Deleted: %+v\n%s", left, m.Log())
			}
			if left != nil {
				run(t, "rm", name)
			}
			if got := s.Messages(t, u, "INBOX"); len(got) != 2 || got[0].UID != uids[0] || got[1].UID != uids[2] {
				t.Errorf("after rm, INBOX holds %+v, want UIDs %d and %d", got, uids[0], uids[2])
			}
		})
	}
}

// TestListingUnderConcurrentUse's load, through a proxy that drops the
// mount's connections every few seconds, at once or after a random number
// of bytes: once it stops, the mount still shows exactly the server's
// messages, every cp that succeeded is stored once, and one that failed
// at most once.
func TestLoadUnderFaults(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	seeded := seedLoad(t, s, u, "INBOX")
	p := test.StartProxy(t, s.TLSAddr(), test.ProxyOptions{})
	m := test.Mount(t, s.Via(p), u)

	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		faults := 0
		defer func() { done <- faults }()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(2000+rand.IntN(2000)) * time.Millisecond):
			}
			faults++
			if faults%2 == 0 {
				p.DropAll()
				continue
			}
			// Cut each open connection after some more bytes, in either
			// direction: mid-command, mid-literal or mid-answer.
			a := p.Arm(test.Fault{AfterBytes: 1 + rand.Int64N(64<<10), OpenOnly: true})
			select {
			case <-stop:
			case <-time.After(time.Second):
			}
			a.Release()
		}
	}()
	uploads := runLoad(t, s, u, m, "INBOX", seeded, loadDuration)
	close(stop)
	t.Logf("%d faults armed, %d connections accepted by the proxy", <-done, p.Accepted())
	checkAfterLoad(t, s, u, m, "INBOX", uploads)
}
