package fs_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"imapfs/test"
)

// loadDuration is how long TestListingUnderConcurrentUse keeps the mount
// busy.
const loadDuration = 60 * time.Second

// settleDelay is how long after the load the mount may take to show the
// server's state: the documented two seconds (the listing TTL), the
// kernel's one-second attribute cache, and a margin for a slow machine.
const settleDelay = 10 * time.Second

// messageBody is a message with a marker that makes its bytes unique.
func messageBody(marker string, i int) []byte {
	return []byte(fmt.Sprintf("From: load@example.com\r\nSubject: %s %d\r\nMessage-ID: <%s.%d@example.com>\r\n\r\n%s\r\n",
		marker, i, marker, i, strings.Repeat("Under load, every byte counts. ", 40+i%200)))
}

// viewDiff compares the mount's view of a mailbox (names and sizes) with
// what the server holds, read without IMAP; "" when they agree.
func viewDiff(m *test.Mounted, s *test.Server, u test.User, mailbox string, stored []test.StoredMessage) string {
	entries, err := os.ReadDir(mailboxDir(m, s, mailbox))
	if err != nil {
		return err.Error()
	}
	got := map[string]int64{}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && !e.IsDir() {
			got[e.Name()] = info.Size()
		} else if err != nil {
			got[e.Name()] = -1
		}
	}
	var diffs []string
	for _, sm := range stored {
		name := fmt.Sprintf("%d.eml", sm.UID)
		size, ok := got[name]
		switch {
		case !ok:
			diffs = append(diffs, name+" missing")
		case size != sm.Size:
			diffs = append(diffs, fmt.Sprintf("%s has size %d, the server's is %d", name, size, sm.Size))
		}
		delete(got, name)
	}
	for name := range got {
		diffs = append(diffs, name+" listed but not on the server")
	}
	slices.Sort(diffs)
	return strings.Join(diffs, "; ")
}

// Under parallel readers (grep -r), writers (cp) and another client
// appending and expunging, no message goes missing from the mount for
// good and no expunged one stays: once the load stops, the mount shows
// exactly the server's messages, names, sizes and bytes, within the
// documented delay, and every cp that succeeded stored its message.
func TestListingUnderConcurrentUse(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	seeded := seedLoad(t, s, u, "INBOX")
	m := test.Mount(t, s, u)
	uploads := runLoad(t, s, u, m, "INBOX", seeded, loadDuration)
	checkAfterLoad(t, s, u, m, "INBOX", uploads)
}

// upload is one cp of the load: the bytes it wrote and whether it said
// it succeeded.
type upload struct {
	body []byte
	ok   bool
}

// seedLoad stores the messages the load starts from.
func seedLoad(t *testing.T, s *test.Server, u test.User, mailbox string) []uint32 {
	var seeds []test.Message
	for i := range 80 {
		seeds = append(seeds, test.Message{Body: messageBody("seed", i)})
	}
	return s.Seed(t, u, mailbox, seeds...)
}

// runLoad keeps the mount busy for d: 8 parallel grep -r, 4 cp writers
// into mailbox, and another client (not through the mount) appending and
// expunging among the seeded messages and its own. It returns the cps.
// A cp that failed leaves its pending file, which the writer removes, as
// a user would.
func runLoad(t *testing.T, s *test.Server, u test.User, m *test.Mounted, mailbox string, seeded []uint32, d time.Duration) []upload {
	dir := mailboxDir(m, s, mailbox)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var greps, grepFailures, grepEIO atomic.Int64

	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				// grep exits 1 when nothing matches and 2 on errors, which
				// messages expunged under it may cause: neither is wrong.
				var stderr bytes.Buffer
				grep := exec.Command("grep", "-r", "-c", "Subject", m.Dir)
				grep.Stderr = &stderr
				if err := grep.Run(); err != nil {
					grepFailures.Add(1)
					if strings.Contains(stderr.String(), "Input/output error") && grepEIO.Add(1) <= 3 {
						t.Logf("grep -r: %v: %.300s", err, stderr.String())
					}
				}
				greps.Add(1)
			}
		})
	}

	var uploadsMu sync.Mutex
	var uploads []upload
	var cpFailures atomic.Int64
	src := t.TempDir()
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := messageBody(fmt.Sprintf("cp%d", w), i)
				file := filepath.Join(src, fmt.Sprintf("w%d-%d.eml", w, i))
				if err := os.WriteFile(file, body, 0o644); err != nil {
					t.Error(err)
					return
				}
				target := filepath.Join(dir, fmt.Sprintf("new-w%d-%d.eml", w, i))
				out, err := exec.Command("cp", file, target).CombinedOutput()
				uploadsMu.Lock()
				uploads = append(uploads, upload{body, err == nil})
				uploadsMu.Unlock()
				if err != nil {
					if cpFailures.Add(1) <= 3 {
						t.Logf("cp: %v: %.300s", err, out)
					}
					os.Remove(target)
				}
				time.Sleep(200 * time.Millisecond)
			}
		})
	}

	// Another client appends and expunges, among its own messages only.
	other := s.Session(t, u)
	if _, _, err := other.Run("SELECT " + mailbox); err != nil {
		t.Fatal(err)
	}
	var appended, expunged atomic.Int64
	wg.Go(func() {
		own := slices.Clone(seeded)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			uid, err := other.Append(mailbox, test.Message{Body: messageBody("other", i)})
			if err != nil {
				t.Error(err)
				return
			}
			appended.Add(1)
			own = append(own, uid)
			if i%2 == 1 && len(own) > 0 {
				k := rand.IntN(len(own))
				victim := own[k]
				own = slices.Delete(own, k, k+1)
				for _, cmd := range []string{fmt.Sprintf(`UID STORE %d +FLAGS.SILENT (\Deleted)`, victim), fmt.Sprintf("UID EXPUNGE %d", victim)} {
					if _, _, err := other.Run(cmd); err != nil {
						t.Error(err)
						return
					}
				}
				expunged.Add(1)
			}
			time.Sleep(30 * time.Millisecond)
		}
	})

	time.Sleep(d)
	close(stop)
	wg.Wait()
	uploadsMu.Lock()
	defer uploadsMu.Unlock()
	t.Logf("%d grep -r (%d exited non-zero, %d with EIO), %d cp (%d failed), %d appended and %d expunged by another client",
		greps.Load(), grepFailures.Load(), grepEIO.Load(), len(uploads), cpFailures.Load(), appended.Load(), expunged.Load())
	return uploads
}

// checkAfterLoad checks the mount once the load stopped: within
// settleDelay it shows exactly the server's messages (names, sizes,
// bytes; the server's state read without IMAP), every cp that succeeded
// is stored exactly once, and one that failed at most once.
func checkAfterLoad(t *testing.T, s *test.Server, u test.User, m *test.Mounted, mailbox string, uploads []upload) {
	serverState := s.Messages(t, u, mailbox)
	var diff string
	for deadline := time.Now().Add(settleDelay); ; time.Sleep(200 * time.Millisecond) {
		if diff = viewDiff(m, s, u, mailbox, serverState); diff == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v after the load stopped, the mount differs from the server: %s\n%s", settleDelay, diff, m.Log())
		}
	}
	if log, err := os.ReadFile(m.LogFile); err == nil {
		t.Logf("refreshes that found the server's answers disagreeing: %d", bytes.Count(log, []byte("disagrees")))
	}
	dir := mailboxDir(m, s, mailbox)
	bodies := map[string]int{}
	serverBodies := s.Bodies(t, u, mailbox)
	for _, sm := range serverState {
		want := serverBodies[sm.UID]
		bodies[string(want)]++
		got, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("%d.eml", sm.UID)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("UID %d: read %d bytes (%v), the server has %d other bytes", sm.UID, len(got), err, len(want))
		}
	}
	for _, up := range uploads {
		switch n := bodies[string(up.body)]; {
		case up.ok && n != 1:
			t.Errorf("a cp that succeeded is stored %d times: %.60q", n, up.body)
		case !up.ok && n > 1:
			t.Errorf("a cp that failed is stored %d times: %.60q", n, up.body)
		}
	}
}
