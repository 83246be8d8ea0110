package imapclient_test

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"imapfs/imapclient"
)

// allocatedDuring returns how many bytes the process allocated while f ran.
func allocatedDuring(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A server announcing a literal of 4,000,000,000 bytes and then dropping
// the connection makes the client allocate next to nothing, whether the
// literal is a body streamed to the caller, a body held in memory or a
// string (here with the client's limits lifted, so that only the growth
// as bytes arrive bounds it).
func TestHugeAnnouncedLiteralNotAllocated(t *testing.T) {
	const huge = "{4000000000}\r\n"
	for _, tc := range []struct {
		name    string
		call    func(c *imapclient.Client) error
		command string
		answer  string
	}{
		{"streamed body", func(c *imapclient.Client) error {
			_, err := c.UIDFetchBody(ctxT(t), 1, "", 0, -1, new(bytes.Buffer))
			return err
		}, "T1 UID FETCH 1 (BODY.PEEK[])\r\n", "* 1 FETCH (UID 1 BODY[] " + huge},
		{"held body", func(c *imapclient.Client) error {
			_, err := c.UIDFetch(ctxT(t), seqSet(1, 2), []string{"BODY.PEEK[]"}, nil)
			return err
		}, "T1 UID FETCH 1:2 (BODY.PEEK[])\r\n", "* 1 FETCH (BODY[] " + huge},
		{"string", func(c *imapclient.Client) error {
			_, err := c.List(ctxT(t), "", "*")
			return err
		}, "T1 LIST \"\" \"*\"\r\n", "* LIST () \"/\" " + huge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, s := newRoutingServer(t, "", imapclient.Options{MaxStringSize: 1 << 40, MaxResponseSize: 1 << 40})
			allocated := allocatedDuring(func() {
				done := async(func() error { return tc.call(c) })
				s.expect(tc.command)
				s.send(tc.answer + strings.Repeat("x", 1000))
				s.conn.Close()
				if err := wait(t, done); !errors.Is(err, imapclient.ErrAbort) {
					t.Errorf("got %v, want the connection aborted", err)
				}
			})
			if allocated > 8<<20 {
				t.Fatalf("allocated %d bytes for a literal that never came", allocated)
			}
		})
	}
}

// One response may not make the client hold more than
// Options.MaxResponseSize, however it is made up: many small tokens (a
// SEARCH answer, a list of flags), a long quoted string, or a line that
// never ends. The command it answers fails with ErrResponseTooLarge, and
// the connection goes on.
func TestResponseTooLarge(t *testing.T) {
	const limit = 4096
	numbers := strings.Repeat(" 1234567", 2*limit/8)
	flags := strings.Repeat(`\Flag `, 2*limit/6)
	for _, tc := range []struct {
		name    string
		call    func(c *imapclient.Client) error
		command string
		answer  string
	}{
		{"SEARCH numbers", func(c *imapclient.Client) error {
			_, err := c.UIDSearch(ctxT(t), mustCriteria(t, "ALL"))
			return err
		}, "T1 UID SEARCH ALL\r\n", "* SEARCH" + numbers + "\r\nT1 OK done\r\n"},
		{"ESEARCH ranges", func(c *imapclient.Client) error {
			_, err := c.UIDSearch(ctxT(t), mustCriteria(t, "ALL"))
			return err
		}, "T1 UID SEARCH ALL\r\n", "* ESEARCH (TAG \"T1\") UID ALL " + strings.Repeat("1:2,", limit) + "3\r\nT1 OK done\r\n"},
		{"FETCH flags", func(c *imapclient.Client) error {
			_, err := c.UIDFetch(ctxT(t), seqSet(1), []string{"FLAGS"}, nil)
			return err
		}, "T1 UID FETCH 1 (FLAGS)\r\n", "* 1 FETCH (UID 1 FLAGS (" + flags + "))\r\nT1 OK done\r\n"},
		{"quoted string", func(c *imapclient.Client) error {
			_, err := c.List(ctxT(t), "", "*")
			return err
		}, "T1 LIST \"\" \"*\"\r\n", "* LIST () \"/\" \"" + strings.Repeat("n", 2*limit) + "\"\r\nT1 OK done\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			caps := ""
			if strings.Contains(tc.name, "ESEARCH") {
				caps = "IMAP4rev2"
			}
			c, s := newRoutingServer(t, caps, imapclient.Options{MaxResponseSize: limit})
			done := async(func() error { return tc.call(c) })
			s.expect(tc.command)
			s.send(tc.answer)
			if err := wait(t, done); !errors.Is(err, imapclient.ErrResponseTooLarge) {
				t.Fatalf("got %v, want ErrResponseTooLarge", err)
			}
			noop(t, c, s, "T2")
		})
	}
}

// A line that never ends (here 64 MiB of text in an untagged OK) is read
// holding no more than the string limit; the connection goes on.
func TestEndlessLineNotHeld(t *testing.T) {
	c, s := newRoutingServer(t, "", imapclient.Options{})
	chunk := bytes.Repeat([]byte("x"), 1<<20)
	allocated := allocatedDuring(func() {
		s.send("* OK ")
		for range 64 {
			if _, err := s.conn.Write(chunk); err != nil {
				t.Fatal(err)
			}
		}
		s.send("\r\n")
		noop(t, c, s, "T1")
	})
	if allocated > 16<<20 {
		t.Fatalf("allocated %d bytes for a line of 64 MiB", allocated)
	}
}

// A partial FETCH answered from another origin, or without one, is not
// taken as the bytes asked for.
func TestPartialFetchWrongOrigin(t *testing.T) {
	for _, answered := range []string{"BODY[]<0>", "BODY[]", "BODY[]<2097152>", "BODY[TEXT]<1048576>"} {
		t.Run(answered, func(t *testing.T) {
			c, s := newRoutingServer(t, "", imapclient.Options{})
			var buf bytes.Buffer
			done := async(func() error {
				_, err := c.UIDFetchBody(ctxT(t), 1, "", 1048576, 1048576, &buf)
				return err
			})
			s.expect("T1 UID FETCH 1 (BODY.PEEK[]<1048576.1048576>)\r\n")
			s.send(fmt.Sprintf("* 1 FETCH (UID 1 %s {10}\r\n0123456789)\r\nT1 OK done\r\n", answered))
			if err := wait(t, done); err == nil || buf.Len() != 0 {
				t.Fatalf("got %q, %v; want an error and no bytes", buf.Bytes(), err)
			}
			noop(t, c, s, "T2")
		})
	}
}

func seqSet(nums ...uint32) imapclient.SeqSet {
	var set imapclient.SeqSet
	set.AddNum(nums...)
	return set
}
