package fs_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"imapfs/test"
)

// bigMessage is a message of about size bytes, its lines numbered so that
// a misplaced piece shows.
func bigMessage(subject string, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: a@example.com\r\nSubject: %s\r\n\r\n", subject)
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "%08d %s\r\n", i, strings.Repeat("y", 60))
	}
	return b.Bytes()
}

// --timeout bounds how long nothing moves, not how long a transfer takes.
// Through a link of 100 KiB/s each way a message of 500 KiB takes about
// five seconds to store or to read, and gets through with --timeout 2s;
// the same transfers on a stalled link fail with EIO.
func TestSlowLinkTransfers(t *testing.T) {
	test.RequireFUSE(t)
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	const rate = 100 << 10
	p := test.StartProxy(t, s.TLSAddr(), test.ProxyOptions{Bandwidth: rate})
	m := test.Mount(t, s.Via(p), u, "--timeout", "2s")
	inbox := filepath.Join(m.Dir, "INBOX")
	run(t, "ls", inbox)

	t.Run("upload", func(t *testing.T) {
		body := bigMessage("slow upload", 5*rate)
		src := filepath.Join(t.TempDir(), "msg.eml")
		if err := os.WriteFile(src, body, 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("cp", src, filepath.Join(inbox, "new.eml")).CombinedOutput(); err != nil {
			t.Fatalf("cp over a slow link: %v %s\n%s", err, out, m.Log())
		}
		stored := s.Messages(t, u, "INBOX")
		if len(stored) != 1 || !bytes.Equal(s.Body(t, u, "INBOX", stored[0].UID), body) {
			t.Fatalf("the server holds %+v, want the message stored once", stored)
		}
	})

	t.Run("read", func(t *testing.T) {
		body := bigMessage("slow read", 5*rate)
		uid := s.Seed(t, u, "INBOX", test.Message{Body: body})[0]
		path := filepath.Join(inbox, fmt.Sprintf("%d.eml", uid))
		run(t, "ls", inbox)
		if out, err := exec.Command("cat", path).Output(); err != nil || !bytes.Equal(out, body) {
			t.Fatalf("cat over a slow link: %d bytes of %d, %v\n%s", len(out), len(body), err, m.Log())
		}
	})

	t.Run("stalled read", func(t *testing.T) {
		uid := s.Seed(t, u, "INBOX", test.Message{Body: bigMessage("stalled read", rate)})[0]
		run(t, "ls", inbox)
		stall := p.Stall(test.ToClient)
		defer stall.Release()
		out, err := exec.Command("cat", filepath.Join(inbox, fmt.Sprintf("%d.eml", uid))).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "Input/output error") {
			t.Fatalf("cat on a stalled link: %v, %.200q; want EIO", err, out)
		}
	})

	t.Run("stalled upload", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "msg.eml")
		if err := os.WriteFile(src, bigMessage("stalled upload", rate), 0o600); err != nil {
			t.Fatal(err)
		}
		before := len(s.Messages(t, u, "INBOX"))
		stall := p.Stall(test.ToServer)
		defer stall.Release()
		out, err := exec.Command("cp", src, filepath.Join(inbox, "stalled.eml")).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "Input/output error") {
			t.Fatalf("cp on a stalled link: %v, %q; want EIO", err, out)
		}
		if n := len(s.Messages(t, u, "INBOX")); n != before {
			t.Errorf("the server holds %d messages, had %d", n, before)
		}
	})
}
