package fs_test

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"imapfs/test"
)

// Faults under changes: connections cut or stalled at a command of mv or
// rm, imapfs killed during cp, connections dropped under load. The
// server's state is read with its own tools, not through the proxy: no
// message may end in no mailbox, or twice in one, whatever the fault.

// mountPlainVia mounts u's account through p, a proxy to a server's
// plaintext port, in plaintext, so that p can cut at a command.
func mountPlainVia(t *testing.T, p *test.Proxy, u test.User, flags ...string) *test.Mounted {
	t.Helper()
	return mountPlainHome(t, p, u, t.TempDir(), flags...)
}

// mountPlainHome is mountPlainVia with imapfs's spool and state below
// home, which a later mount may share.
func mountPlainHome(t *testing.T, p *test.Proxy, u test.User, home string, flags ...string) *test.Mounted {
	t.Helper()
	argv := append([]string{test.Imapfs(t), "-f", "--plaintext"}, flags...)
	argv = append(argv, "imap://"+u.Name+"@"+p.Addr)
	m := test.MountCommand(t, argv, []string{"IMAPFS_PASSWORD=" + u.Password,
		"XDG_CACHE_HOME=" + filepath.Join(home, "cache"), "XDG_STATE_HOME=" + filepath.Join(home, "state")})
	m.Home = home
	return m
}

// eachPlainServer runs f on a private Dovecot and a private Cyrus that
// speak plaintext, each behind a proxy to its plaintext port, for command
// faults; withoutMove hides their MOVE.
func eachPlainServer(t *testing.T, withoutMove bool, f func(t *testing.T, s *test.Server, p *test.Proxy)) {
	t.Run("dovecot", func(t *testing.T) {
		opts := test.DovecotOptions{NoTLS: true}
		if withoutMove {
			opts.Capabilities = "IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE IDLE NAMESPACE UNSELECT CHILDREN LIST-EXTENDED ESEARCH UIDPLUS"
		}
		s := test.StartDovecotWith(t, opts)
		f(t, s, test.StartProxy(t, s.Addr(), test.ProxyOptions{}))
	})
	t.Run("cyrus", func(t *testing.T) {
		opts := test.CyrusOptions{NoTLS: true}
		if withoutMove {
			opts.SuppressCapabilities = "MOVE"
		}
		s := test.StartCyrusWith(t, opts)
		f(t, s, test.StartProxy(t, s.Addr(), test.ProxyOptions{}))
	})
}

// copiesOf counts the messages of each mailbox whose bytes are body.
func copiesOf(t *testing.T, s *test.Server, u test.User, body []byte, mailboxes ...string) []int {
	t.Helper()
	var n []int
	for _, box := range mailboxes {
		k := 0
		for _, sm := range s.Messages(t, u, box) {
			if bytes.Equal(s.Body(t, u, box, sm.UID), body) {
				k++
			}
		}
		n = append(n, k)
	}
	return n
}

// A changeFault is what the proxy does to the connection that sends a
// command of a change: cut it before the command reaches the server,
// cut it right after, or hold the server's answer (until the request
// times out: the mounts of these tests use faultTimeout).
type changeFault string

const (
	cutBefore     changeFault = "cut before"
	cutAfter      changeFault = "cut after"
	answerStalled changeFault = "answer stalled"
)

// faultTimeout is the --timeout of the mounts that meet a stalled answer:
// short, yet with room for a loaded machine running tests side by side.
const faultTimeout = "--timeout=5s"

func (f changeFault) name(command string) string {
	return strings.ReplaceAll(string(f)+" "+command, " ", "_")
}

// arm arms f for the next command named command.
func (f changeFault) arm(p *test.Proxy, command string) *test.Armed {
	switch f {
	case cutBefore:
		return p.Arm(test.Fault{Command: command})
	case cutAfter:
		return p.Arm(test.Fault{Command: command, AfterCommand: true})
	default:
		return p.Arm(test.Fault{Command: command, AfterCommand: true, Stall: true, Dir: test.ToClient})
	}
}

// faultsOn is the faults to try on s: a stalled answer only on Dovecot,
// as waiting for it is imapfs's own doing (and costs the most time).
func faultsOn(s *test.Server, faults ...changeFault) []changeFault {
	if s.Kind == "dovecot" {
		return faults
	}
	return slices.DeleteFunc(faults, func(f changeFault) bool { return f == answerStalled })
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

// A mv whose UID MOVE is cut off before or after it reaches the server,
// or whose answer never comes, ends with the message in exactly one
// mailbox, and mv succeeds only if that is the target; mv tried again
// leaves one copy, in the target, and no \Deleted behind.
func TestMoveCutOff(t *testing.T) {
	t.Parallel() // waits for timeouts and stalls on servers of its own
	eachPlainServer(t, false, func(t *testing.T, s *test.Server, p *test.Proxy) {
		for _, f := range faultsOn(s, cutBefore, cutAfter, answerStalled) {
			t.Run(f.name("UID MOVE"), func(t *testing.T) { moveCutOff(t, s, p, "UID MOVE", f) })
		}
	})
}

// Without MOVE a move is UID COPY, UID STORE \Deleted and UID EXPUNGE: a
// cut right after any of them reaches the server, or an answer that
// never comes, leaves the message in one mailbox, or in both with mv
// failing (and the log saying so); mv tried again makes no second copy.
func TestMoveWithoutMOVECutOff(t *testing.T) {
	t.Parallel() // waits for timeouts and stalls on servers of its own
	eachPlainServer(t, true, func(t *testing.T, s *test.Server, p *test.Proxy) {
		for _, command := range []string{"UID COPY", "UID STORE", "UID EXPUNGE"} {
			for _, f := range faultsOn(s, cutAfter, answerStalled) {
				t.Run(f.name(command), func(t *testing.T) { moveCutOff(t, s, p, command, f) })
			}
		}
	})
}

// moveCutOff runs mv INBOX/F Work/ with fault f at command, then mv again
// if it failed, and checks the server's state after each.
func moveCutOff(t *testing.T, s *test.Server, p *test.Proxy, command string, f changeFault) {
	u := s.NewUser(t)
	inbox, work := "INBOX", s.Personal("Work")
	s.CreateMailbox(t, u, work)
	uids := seedSome(t, s, u, inbox, 3)
	body := s.Body(t, u, inbox, uids[1])
	m := mountPlainVia(t, p, u, faultTimeout)
	src := filepath.Join(mailboxDir(m, s, inbox), fmt.Sprintf("%d.eml", uids[1]))
	dst := mailboxDir(m, s, work) + "/"
	run(t, "ls", mailboxDir(m, s, inbox), dst)

	fault := f.arm(p, command)
	out, err := exec.Command("mv", src, dst).CombinedOutput()
	if !fired(fault) {
		t.Fatalf("mv (%v %s) sent no %s through the proxy\n%s", err, out, command, m.Log())
	}
	n := copiesOf(t, s, u, body, inbox, work)
	t.Logf("mv with the %s: %v %s; copies in the source and the target: %v", f.name(command), err, bytes.TrimSpace(out), n)
	switch {
	case n[0]+n[1] == 0:
		t.Fatalf("the message is in no mailbox\n%s", m.Log())
	case err == nil && (n[0] != 0 || n[1] != 1):
		t.Errorf("mv succeeded with copies in the source and the target: %v\n%s", n, m.Log())
	case n[0]+n[1] > 1 && !strings.Contains(m.Log(), "mv /INBOX/"):
		t.Errorf("the message is in both mailboxes and the log does not say so\n%s", m.Log())
	}
	if err != nil {
		// Tried again, as a user would after an error.
		out, err = exec.Command("mv", src, dst).CombinedOutput()
		if n = copiesOf(t, s, u, body, inbox, work); n[0] != 0 || n[1] != 1 {
			t.Errorf("after mv tried again (%v %s), copies in the source and the target: %v, want 0, 1\n%s", err, out, n, m.Log())
		}
	}
	for _, sm := range s.Messages(t, u, inbox) {
		if slices.Contains(sm.Flags, `\Deleted`) {
			t.Errorf("UID %d of INBOX is left \\Deleted\n%s", sm.UID, m.Log())
		}
	}
}

// An rm whose UID STORE \Deleted or UID EXPUNGE is cut off right after
// it reaches the server, or whose answer never comes, either removed the
// message and says so, or fails and leaves it without \Deleted; rm
// tried again removes it.
func TestRemoveCutOff(t *testing.T) {
	t.Parallel() // waits for timeouts and stalls on servers of its own
	eachPlainServer(t, false, func(t *testing.T, s *test.Server, p *test.Proxy) {
		for _, command := range []string{"UID STORE", "UID EXPUNGE"} {
			for _, f := range faultsOn(s, cutAfter, answerStalled) {
				t.Run(f.name(command), func(t *testing.T) { removeCutOff(t, s, p, command, f) })
			}
		}
	})
}

func removeCutOff(t *testing.T, s *test.Server, p *test.Proxy, command string, f changeFault) {
	u := s.NewUser(t)
	uids := seedSome(t, s, u, "INBOX", 3)
	m := mountPlainVia(t, p, u, faultTimeout)
	name := filepath.Join(m.Dir, "INBOX", fmt.Sprintf("%d.eml", uids[1]))
	run(t, "ls", filepath.Join(m.Dir, "INBOX"))

	fault := f.arm(p, command)
	out, err := exec.Command("rm", name).CombinedOutput()
	if !fired(fault) {
		t.Fatalf("rm (%v %s) sent no %s through the proxy\n%s", err, out, command, m.Log())
	}
	var left *test.StoredMessage
	for _, sm := range s.Messages(t, u, "INBOX") {
		if sm.UID == uids[1] {
			left = &sm
		}
	}
	t.Logf("rm with the %s: %v %s; the message left: %+v", f.name(command), err, bytes.TrimSpace(out), left)
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

// imapfs killed (-9) while cp writes a large file, while its close
// sends the APPEND, or once the server stored it but before its answer
// came back: the server holds no part of the message, the next mount
// names the spool file in its log, and the message ends stored whole,
// once, when the user stores it again as the mount says: by the cp tried
// again (the spool file is partial), or by copying in the spool file the
// log names (which the server may hold already).
func TestKilledDuringCopy(t *testing.T) {
	t.Parallel() // waits for timeouts and stalls on servers of its own
	if closeSyscall == "" {
		t.Fatalf("close(2)'s number on %s is unknown to this test", runtime.GOARCH)
	}
	s := test.StartDovecotWith(t, test.DovecotOptions{NoTLS: true})
	p := test.StartProxy(t, s.Addr(), test.ProxyOptions{})
	for _, when := range []string{"writing", "sending", "answered"} {
		t.Run(when, func(t *testing.T) {
			u := s.NewUser(t)
			home := t.TempDir()
			spoolDir := filepath.Join(home, "cache", "imapfs", "spool")
			src := filepath.Join(t.TempDir(), "big.eml")
			line := []byte("a line of a large message cut off by a crash...................\r\n")
			body := append([]byte("Subject: big, crashed\r\n\r\n"), bytes.Repeat(line, 24<<20/len(line))...)
			if err := os.WriteFile(src, body, 0o644); err != nil {
				t.Fatal(err)
			}

			m := mountPlainHome(t, p, u, home)
			if when == "answered" {
				// The server stores the message; its answer never comes.
				defer p.Arm(test.Fault{Command: "APPEND", AfterCommand: true, Stall: true, Dir: test.ToClient}).Release()
			}
			cp := exec.Command("cp", src, mailboxDir(m, s, "INBOX")+"/")
			var cpOut bytes.Buffer
			cp.Stdout, cp.Stderr = &cpOut, &cpOut
			if err := cp.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cp.Wait() }()
			for ready := false; !ready; time.Sleep(time.Millisecond) {
				files, _ := filepath.Glob(filepath.Join(spoolDir, "*"))
				for _, f := range files {
					info, err := os.Stat(f)
					if err != nil {
						continue
					}
					switch when {
					case "writing":
						ready = info.Size() > 1<<20 && info.Size() < int64(len(body))
					case "sending":
						if info.Size() == int64(len(body)) {
							sc, _ := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", cp.Process.Pid))
							ready = strings.HasPrefix(string(sc), closeSyscall+" ")
						}
					case "answered":
						ready = len(s.Messages(t, u, "INBOX")) > 0
					}
				}
				select {
				case err := <-done:
					t.Fatalf("cp ended (%v: %s) before the test could kill imapfs", err, cpOut.Bytes())
				default:
				}
			}
			killMount(t, m)
			if err := <-done; err == nil {
				t.Errorf("cp succeeded though imapfs was killed")
			}
			m.Unmount(t)
			stored := s.Messages(t, u, "INBOX")
			for _, sm := range stored {
				if got := s.Body(t, u, "INBOX", sm.UID); !bytes.Equal(got, body) {
					t.Errorf("after the crash the server holds UID %d, %d bytes, not the message", sm.UID, len(got))
				}
			}
			t.Logf("killed while %s: %d messages stored", when, len(stored))
			if len(stored) > 1 || when == "answered" && len(stored) != 1 {
				t.Errorf("after the crash the server holds %d messages", len(stored))
			}

			again := mountPlainHome(t, p, u, home)
			var spool string
			for _, l := range strings.Split(again.Log(), "\n") {
				if strings.Contains(l, "not stored") {
					spool = logValue(l, "spool")
				}
			}
			kept, err := os.ReadFile(spool)
			if err != nil || len(kept) == 0 || !bytes.HasPrefix(body, kept) {
				t.Fatalf("the spool file the log names (%q) holds %d bytes (%v), not a part of the message\n%s", spool, len(kept), err, again.Log())
			}
			// What the user does, whether or not it was stored: the
			// mailbox holds it at most once already, and a message it
			// holds is not stored again: copy in what the log names if it is
			// whole, else cp again.
			from := src
			if len(kept) == len(body) {
				from = spool
			}
			run(t, "cp", from, mailboxDir(again, s, "INBOX")+"/")
			stored = s.Messages(t, u, "INBOX")
			if len(stored) != 1 || !bytes.Equal(s.Body(t, u, "INBOX", stored[0].UID), body) {
				t.Errorf("after storing it again the server holds %d messages, want the message once\n%s", len(stored), again.Log())
			}
		})
	}
}

// rm of a new file whose upload is under way (its APPEND sent, the answer
// held back) waits for the upload: the file is a message by then, so rm
// says ENOENT and the message stays, stored once. rm never succeeds for
// a message that then appears.
func TestRemoveDuringUpload(t *testing.T) {
	t.Parallel() // waits for timeouts and stalls on servers of its own
	s := test.StartDovecotWith(t, test.DovecotOptions{NoTLS: true})
	p := test.StartProxy(t, s.Addr(), test.ProxyOptions{})
	u := s.NewUser(t)
	m := mountPlainVia(t, p, u)
	inbox := mailboxDir(m, s, "INBOX")
	body := []byte("Subject: removed while stored\r\n\r\nbody\r\n")
	src := filepath.Join(t.TempDir(), "x.eml")
	if err := os.WriteFile(src, body, 0o644); err != nil {
		t.Fatal(err)
	}
	stall := p.Arm(test.Fault{Command: "APPEND", AfterCommand: true, Stall: true, Dir: test.ToClient})
	cp := exec.Command("cp", src, inbox+"/x.eml")
	if err := cp.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); len(s.Messages(t, u, "INBOX")) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the server never stored the message")
		}
	}
	rmDone := make(chan error, 1)
	go func() { rmDone <- os.Remove(inbox + "/x.eml") }()
	select {
	case err := <-rmDone:
		stall.Release()
		cp.Wait()
		t.Fatalf("rm returned (%v) while the upload of the file was under way", err)
	case <-time.After(time.Second):
	}
	stall.Release()
	if err := cp.Wait(); err != nil {
		t.Errorf("cp: %v", err)
	}
	rmErr := <-rmDone
	stored := s.Messages(t, u, "INBOX")
	switch {
	case rmErr == nil && len(stored) != 0:
		t.Errorf("rm succeeded, yet the server holds %d messages", len(stored))
	case rmErr != nil && !errors.Is(rmErr, syscall.ENOENT):
		t.Errorf("rm: %v, want ENOENT (the file is a message by now)", rmErr)
	case rmErr != nil && len(stored) != 1:
		t.Errorf("rm said %v, and the server holds %d messages", rmErr, len(stored))
	}
	if strings.Contains(m.Log(), "failed") {
		t.Errorf("the log tells of a failure:\n%s", m.Log())
	}
}

// A new file removed while a writer still holds it open (exec 3> F; rm
// F) takes the writer's further writes and close without error, and
// stores nothing, as a removed file on any file system.
func TestRemoveWhileWritten(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	m := test.Mount(t, s, u)
	f := filepath.Join(mailboxDir(m, s, "INBOX"), "new.eml")
	out, err := exec.Command("sh", "-c", `exec 3>"$1" && printf 'Subject: x\r\n\r\n' >&3 && rm "$1" && printf 'more\r\n' >&3 && exec 3>&-`, "sh", f).CombinedOutput()
	if err != nil {
		t.Errorf("writing, removing, writing on and closing: %v %s", err, out)
	}
	if n := len(s.Messages(t, u, "INBOX")); n != 0 {
		t.Errorf("the server holds %d messages after the file was removed", n)
	}
	if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat after rm: %v", err)
	}
	if strings.Contains(m.Log(), "failed") || strings.Contains(m.Log(), "not stored") {
		t.Errorf("the log tells of a failure or a file kept:\n%s", m.Log())
	}
}

// A cp whose APPEND is cut off before it reaches the server, in the
// middle of its literal, or once the whole of it did (the server stored
// it, its answer lost), or whose answer never comes: the message ends
// stored exactly once, whole, when the cp succeeds, or after the user
// tries the cp again when it failed.
func TestUploadCutOff(t *testing.T) {
	t.Parallel() // waits for timeouts and stalls on servers of its own
	eachPlainServer(t, false, func(t *testing.T, s *test.Server, p *test.Proxy) {
		faults := map[string]func() *test.Armed{
			"cut before":  func() *test.Armed { return p.Arm(test.Fault{Command: "APPEND"}) },
			"mid-literal": func() *test.Armed { return p.Arm(test.Fault{AfterBytes: 200 << 10, Dir: test.ToServer}) },
			"cut after":   func() *test.Armed { return p.Arm(test.Fault{Command: "APPEND", AfterCommand: true}) },
			"answer stall": func() *test.Armed {
				return p.Arm(test.Fault{Command: "APPEND", AfterCommand: true, Stall: true, Dir: test.ToClient})
			},
		}
		for _, name := range slices.Sorted(maps.Keys(faults)) {
			if name == "answer stall" && s.Kind != "dovecot" {
				continue // imapfs's own waiting; once is enough
			}
			t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
				u := s.NewUser(t)
				m := mountPlainVia(t, p, u, faultTimeout)
				line := []byte("a line of a message whose upload is cut off.........................\r\n")
				body := append([]byte("Subject: cut off\r\n\r\n"), bytes.Repeat(line, (1<<20)/len(line))...)
				src := filepath.Join(t.TempDir(), "cut.eml")
				if err := os.WriteFile(src, body, 0o644); err != nil {
					t.Fatal(err)
				}
				inbox := mailboxDir(m, s, "INBOX")
				run(t, "ls", inbox)
				fault := faults[name]()
				out, err := exec.Command("cp", src, inbox+"/").CombinedOutput()
				if !fired(fault) {
					t.Fatalf("cp (%v %s) sent no APPEND through the fault\n%s", err, out, m.Log())
				}
				t.Logf("cp with the APPEND %s: %v %s", name, err, bytes.TrimSpace(out))
				if err != nil {
					os.Remove(inbox + "/cut.eml")
					run(t, "cp", src, inbox+"/")
				}
				if n := copiesOf(t, s, u, body, "INBOX"); n[0] != 1 || len(s.Messages(t, u, "INBOX")) != 1 {
					t.Errorf("INBOX holds %d messages, %d of them the message; want it once, whole\n%s", len(s.Messages(t, u, "INBOX")), n[0], m.Log())
				}
			})
		}
	})
}
