package fs_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"imapfs/test"
)

// writeMaildirFile drops a message into a Dovecot user's INBOX behind the
// server's back, claiming a virtual size (W=, what Dovecot reports as
// RFC822.SIZE) that is not the message's real one: the way a server with
// a damaged index gets RFC822.SIZE wrong.
func writeMaildirFile(t *testing.T, s *test.Server, u test.User, body []byte, claimed int) {
	t.Helper()
	dir := filepath.Join(s.Dir, "mail", u.Name, "new")
	name := fmt.Sprintf("%d.M1P1.imapfs-test,S=%d,W=%d", time.Now().Unix(), len(body), claimed)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	dv, err := user.Lookup("dovecot")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(dv.Uid)
	gid, _ := strconv.Atoi(dv.Gid)
	if err := os.Chown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
}

// A server whose RFC822.SIZE is wrong never makes a read silently short or
// padded. Dovecot, claiming more than the message holds, breaks the
// connection mid-FETCH, repairs its index and gives the message a new UID:
// imapfs tries the read once more, reports the old file as stale (or gone),
// and lists the message under its new UID with its real size and bytes.
// Claiming less, Dovecot serves only as many bytes as it claims, so file
// size and content agree with the server.
func TestWrongRFC822Size(t *testing.T) {
	s := test.SharedDovecot(t)
	body := []byte("From: a@example.com\r\nSubject: sized\r\n\r\nthe real body of this message\r\n")
	t.Run("claims-more", func(t *testing.T) {
		u := s.NewUser(t)
		seedSome(t, s, u, "INBOX", 1) // makes the Maildir
		writeMaildirFile(t, s, u, body, len(body)+40)
		stored := s.Messages(t, u, "INBOX")
		if len(stored) != 2 || stored[1].Size != int64(len(body)+40) {
			t.Fatalf("the server should report the wrong size: %+v", stored)
		}
		m := test.Mount(t, s, u)
		path := filepath.Join(m.Dir, "INBOX", fmt.Sprintf("%d.eml", stored[1].UID))
		// The kernel retries a path walk that met ESTALE; by then the
		// listing knows the UID is gone, so the retry may find ENOENT.
		if data, err := os.ReadFile(path); !errors.Is(err, syscall.ESTALE) && !errors.Is(err, syscall.ENOENT) {
			t.Fatalf("read %q, %v; want ESTALE or ENOENT\n%s", data, err, m.Log())
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			entries, _ := os.ReadDir(filepath.Join(m.Dir, "INBOX"))
			var found []byte
			for _, e := range entries {
				if data, err := os.ReadFile(filepath.Join(m.Dir, "INBOX", e.Name())); err == nil && bytes.Equal(data, body) {
					info, _ := e.Info()
					if info.Size() == int64(len(body)) {
						found = data
					}
				}
			}
			if found != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the repaired message never appeared with its real size\n%s", m.Log())
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	t.Run("claims-less", func(t *testing.T) {
		u := s.NewUser(t)
		seedSome(t, s, u, "INBOX", 1)
		writeMaildirFile(t, s, u, body, len(body)-20)
		stored := s.Messages(t, u, "INBOX")
		m := test.Mount(t, s, u)
		path := filepath.Join(m.Dir, "INBOX", fmt.Sprintf("%d.eml", stored[1].UID))
		data, err := os.ReadFile(path)
		info, serr := os.Stat(path)
		if err != nil || serr != nil || int64(len(data)) != info.Size() || !bytes.Equal(data, body[:len(data)]) {
			t.Fatalf("read %d bytes (%v), size %v (%v)", len(data), err, info, serr)
		}
	})
}

// A message of more than a block whose RFC822.SIZE claims more than the
// server then serves (here on the scripted server, which answers a
// partial FETCH past the end with an empty string; Dovecot drops the
// connection instead, see TestWrongRFC822Size): a read ends at the real
// end, the file's size becomes the real one, and no later read, after
// the attributes are asked again, finds the end moved or zeros added.
func TestRFC822SizeLargerThanBody(t *testing.T) {
	test.RequireFUSE(t)
	const surplus = 1 << 20
	s := test.StartScripted(t, test.Variation{RFC822SizeSurplus: surplus})
	body := bigMessage("claims more", 3<<19) // a block and a half
	uid := s.Seed(t, "INBOX", test.Message{Body: body})[0]
	m := s.Mount(t, "-o", "attr_timeout=0")
	path := filepath.Join(m.Dir, "INBOX", fmt.Sprintf("%d.eml", uid))
	if info, err := os.Stat(path); err != nil || info.Size() != int64(len(body)+surplus) {
		t.Fatalf("stat before reading: %v, %v; want the size the server claims", info, err)
	}
	for i := range 2 {
		data, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(data, body) {
			t.Fatalf("read %d: %d bytes (%v), want the %d the server holds\n%s", i+1, len(data), err, len(body), m.Log())
		}
		if info, err := os.Stat(path); err != nil || info.Size() != int64(len(body)) {
			t.Fatalf("stat after read %d: %v, %v; want the real size %d", i+1, info.Size(), err, len(body))
		}
	}
	// A read from past the real end finds the end, not an error.
	out, err := exec.Command("dd", "if="+path, "bs=4096", fmt.Sprintf("skip=%d", (len(body)+4096)/4096), "status=none").Output()
	if err != nil || len(out) != 0 {
		t.Fatalf("dd past the real end: %d bytes, %v", len(out), err)
	}
}

// Small messages whose RFC822.SIZE is wrong, on a server that serves more
// bytes than it claims (the scripted server; Dovecot serves as many as it
// claims, see TestWrongRFC822Size) or fewer. Opens ask the server nothing
// while no size was found wrong, so the first read of the first such
// message may end where the claim does; the second read of it, and every
// read of the others once one was found wrong, give exactly the server's
// bytes, and the size says the same.
func TestRFC822SizeSmallerThanBody(t *testing.T) {
	test.RequireFUSE(t)
	for _, surplus := range []int{-20, 20} {
		t.Run(strconv.Itoa(surplus), func(t *testing.T) {
			s := test.StartScripted(t, test.Variation{RFC822SizeSurplus: surplus})
			var bodies [][]byte
			var msgs []test.Message
			for i := range 3 {
				bodies = append(bodies, []byte(fmt.Sprintf("From: a@example.com\r\nSubject: %d\r\n\r\nthe body of message %d, somewhat longer than its claim\r\n", i, i)))
				msgs = append(msgs, test.Message{Body: bodies[i]})
			}
			uids := s.Seed(t, "INBOX", msgs...)
			m := s.Mount(t)
			path := func(i int) string { return filepath.Join(m.Dir, "INBOX", fmt.Sprintf("%d.eml", uids[i])) }
			check := func(i int) {
				t.Helper()
				data, err := os.ReadFile(path(i))
				info, serr := os.Stat(path(i))
				if err != nil || serr != nil || !bytes.Equal(data, bodies[i]) || info.Size() != int64(len(bodies[i])) {
					t.Errorf("message %d: read %q (%v), size %v (%v); want %q\n%s", i, data, err, info.Size(), serr, bodies[i], m.Log())
				}
			}
			first, err := os.ReadFile(path(0))
			t.Logf("first read: %d of %d bytes", len(first), len(bodies[0]))
			if err != nil || !bytes.HasPrefix(bodies[0], first) {
				t.Fatalf("first read %q, %v", first, err)
			}
			check(0)
			check(2) // not adjacent: no walk, the open checks alone
			check(1)
		})
	}
}
