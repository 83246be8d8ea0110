package fs_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"imapfs/test"
)

// guardWait bounds every command of the tests below: the server being away
// must cost a request seconds, not --timeout (a minute by default).
const guardWait = 30 * time.Second

// guarded runs a command and returns its output and error, failing the
// test if it has not returned within guardWait.
func guarded(t *testing.T, m *test.Mounted, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(guardWait):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s %s had not returned after %v\n%s", name, strings.Join(args, " "), guardWait, m.Log())
		return "", nil
	}
}

// mustRun is guarded for a command that must succeed.
func mustRun(t *testing.T, m *test.Mounted, name string, args ...string) string {
	t.Helper()
	out, err := guarded(t, m, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s\n%s", name, strings.Join(args, " "), err, out, m.Log())
	}
	return out
}

// mustFailEIO is guarded for a command that must fail with EIO.
func mustFailEIO(t *testing.T, m *test.Mounted, name string, args ...string) {
	t.Helper()
	out, err := guarded(t, m, name, args...)
	if err == nil || !strings.Contains(out, "Input/output error") {
		t.Errorf("%s %s with the server gone: %v %q; want EIO\n%s", name, strings.Join(args, " "), err, out, m.Log())
	}
}

// With every Dovecot process stopped, what the mount holds stays
// readable, at once: ls -l of the mailboxes listed, cat of a message read
// before (from memory, and from --cache-dir after a remount). A message
// never read fails with EIO in seconds, and rm, mv, mkdir and cp fail
// with EIO and lose nothing. Once the server is back the mount catches
// up: mail added since appears, and cp stores again.
func TestServerGone(t *testing.T) {
	t.Parallel() // waits on a server of its own
	s := test.StartDovecot(t)
	u := s.NewUser(t)
	work := s.Personal("Work")
	s.CreateMailbox(t, u, work)
	uids := seedSome(t, s, u, "INBOX", 3)
	// More messages than a walk fetches the bodies of along with a
	// mailbox's listing (the ls -l below look like a walk of the root).
	const workMessages = 5
	unread := seedSome(t, s, u, work, workMessages)[0]
	body := func(box string, uid uint32) []byte { return s.Body(t, u, box, uid) }
	inboxBodies := [][]byte{body("INBOX", uids[0]), body("INBOX", uids[1]), body("INBOX", uids[2])}
	file := func(m *test.Mounted, box string, uid uint32) string {
		return filepath.Join(mailboxDir(m, s, box), fmt.Sprintf("%d.eml", uid))
	}

	// uids[1] is read by an earlier mount: the next finds it on disk.
	cacheDir := t.TempDir()
	first := test.Mount(t, s, u, "--cache-dir", cacheDir)
	if got := mustRun(t, first, "cat", file(first, "INBOX", uids[1])); got != string(inboxBodies[1]) {
		t.Fatalf("cat: %q", got)
	}
	first.Unmount(t)

	const dirCacheTime = time.Second
	m := test.Mount(t, s, u, "--cache-dir", cacheDir, "--dir-cache-time", dirCacheTime.String())
	inbox, workDir := mailboxDir(m, s, "INBOX"), mailboxDir(m, s, work)
	root := mustRun(t, m, "ls", "-l", m.Dir)
	listed := mustRun(t, m, "ls", "-l", inbox)
	workListed := mustRun(t, m, "ls", "-l", workDir)
	mustRun(t, m, "cat", file(m, "INBOX", uids[0])) // into memory

	s.Stop(t)
	time.Sleep(dirCacheTime + dirCacheTime/2) // every listing held is out of date

	for dir, want := range map[string]string{m.Dir: root, inbox: listed, workDir: workListed} {
		if got := mustRun(t, m, "ls", "-l", dir); got != want {
			t.Errorf("ls -l %s with the server gone: %q, want %q as before", dir, got, want)
		}
	}
	for _, i := range []int{0, 1} { // from memory, from the disk cache
		if got := mustRun(t, m, "cat", file(m, "INBOX", uids[i])); got != string(inboxBodies[i]) {
			t.Errorf("cat of message %d, read before, with the server gone: %q", i, got)
		}
	}
	mustFailEIO(t, m, "cat", file(m, work, unread))
	mustFailEIO(t, m, "rm", file(m, "INBOX", uids[2]))
	mustFailEIO(t, m, "mv", file(m, "INBOX", uids[2]), workDir+"/")
	mustFailEIO(t, m, "mkdir", filepath.Join(m.Dir, "New"))
	src := filepath.Join(t.TempDir(), "new.eml")
	newBody := []byte("From: c@example.com\r\nSubject: stored once the server is back\r\n\r\nbody\r\n")
	if err := os.WriteFile(src, newBody, 0o644); err != nil {
		t.Fatal(err)
	}
	mustFailEIO(t, m, "cp", src, inbox+"/")
	if n := strings.Count(m.Log(), "the server cannot be reached; serving"); n != 1 {
		t.Errorf("the log tells %d times that cached data is served, want once\n%s", n, m.Log())
	}

	s.Restart(t)
	added := s.Seed(t, u, "INBOX", test.Message{Body: []byte("Subject: arrived while the mount could not see it\r\n\r\nnew\r\n")})[0]
	addedName := fmt.Sprintf("%d.eml", added)
	for deadline := time.Now().Add(guardWait); !slices.Contains(strings.Fields(mustRun(t, m, "ls", inbox)), addedName); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s, added once the server was back, not listed after %v\n%s", addedName, guardWait, m.Log())
		}
	}
	mustRun(t, m, "cp", src, inbox+"/")

	// Nothing was lost or changed by the changes that failed.
	var got []uint32
	for _, sm := range s.Messages(t, u, "INBOX") {
		got = append(got, sm.UID)
		if slices.Contains(sm.Flags, `\Deleted`) {
			t.Errorf("INBOX UID %d is left \\Deleted", sm.UID)
		}
	}
	if want := append(slices.Clone(uids), added); len(got) != len(want)+1 || !slices.Equal(got[:len(want)], want) {
		t.Errorf("INBOX holds UIDs %v, want %v and the message copied in", got, want)
	}
	if n := copiesOf(t, s, u, newBody, "INBOX", work); n[0] != 1 || n[1] != 0 {
		t.Errorf("copies of the message copied in, in INBOX and Work: %v, want 1, 0\n%s", n, m.Log())
	}
	if n := len(s.Messages(t, u, work)); n != workMessages {
		t.Errorf("Work holds %d messages, want %d", n, workMessages)
	}
	if _, err := os.Stat(filepath.Join(m.Dir, "New")); err == nil {
		t.Errorf("the mailbox whose mkdir failed exists")
	}
	if !strings.Contains(m.Log(), "the server answers again") {
		t.Errorf("the log does not tell that the server answers again\n%s", m.Log())
	}
}

// When the server stops answering on every connection, new ones too (they
// are accepted and then hear nothing), the mount serves what it holds: a
// message read before is read without a connection, the listings held are
// served once their refresh fails, and later looks do not each wait
// --timeout for the server; a message never read fails with EIO. Once the
// server answers again, the listing catches up.
func TestServerStalled(t *testing.T) {
	t.Parallel() // waits for --timeout on a server of its own
	s := test.StartDovecot(t)
	u := s.NewUser(t)
	uids := seedSome(t, s, u, "INBOX", 2)
	read := s.Body(t, u, "INBOX", uids[0])
	p := test.StartProxy(t, s.TLSAddr(), test.ProxyOptions{})
	const dirCacheTime = time.Second
	m := test.Mount(t, s.Via(p), u, "--timeout=3s", "--dir-cache-time", dirCacheTime.String())
	inbox := mailboxDir(m, s, "INBOX")
	file := func(uid uint32) string { return filepath.Join(inbox, fmt.Sprintf("%d.eml", uid)) }
	listed := mustRun(t, m, "ls", inbox)
	mustRun(t, m, "cat", file(uids[0]))

	stall := p.Stall(test.BothWays)
	defer stall.Release()
	time.Sleep(dirCacheTime + dirCacheTime/2) // the listing held is out of date

	// Twenty looks, each a refresh due: one --timeout each would take a
	// minute, past the guard.
	start := time.Now()
	deadline := start.Add(guardWait)
	for i := range 20 {
		if got := mustRun(t, m, "ls", inbox); got != listed {
			t.Fatalf("ls %d with the server stalled: %q, want %q as before\n%s", i, got, listed, m.Log())
		}
		if got := mustRun(t, m, "cat", file(uids[0])); got != string(read) {
			t.Fatalf("cat of the message read before, with the server stalled: %q\n%s", got, m.Log())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d looks at the stalled mount took more than %v\n%s", i+1, guardWait, m.Log())
		}
	}
	t.Logf("20 ls and cat with the server stalled: %v", time.Since(start).Round(time.Millisecond))
	mustFailEIO(t, m, "cat", file(uids[1]))
	if n := strings.Count(m.Log(), "the server cannot be reached; serving"); n != 1 {
		t.Errorf("the log tells %d times that cached data is served, want once\n%s", n, m.Log())
	}

	stall.Release()
	released := time.Now()
	added := s.Seed(t, u, "INBOX", test.Message{Body: []byte("Subject: arrived during the stall\r\n\r\nnew\r\n")})[0]
	addedName := fmt.Sprintf("%d.eml", added)
	for deadline := time.Now().Add(guardWait); !slices.Contains(strings.Fields(mustRun(t, m, "ls", inbox)), addedName); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s, added during the stall, not listed %v after it\n%s", addedName, guardWait, m.Log())
		}
	}
	t.Logf("listed %v after the stall ended", time.Since(released).Round(time.Millisecond))
}
