package imapclient_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"imapfs/imapclient"
	"imapfs/imapclient/imapwire"
)

// How untagged responses find their command, against a scripted server:
// item orders, interleavings and mistakes that Dovecot and Cyrus do not
// show on demand. Each script is the exact bytes a server may send.

// routingServer is the server end of a scripted connection.
type routingServer struct {
	t     *testing.T
	conn  net.Conn
	lines chan string // what the client sent, line by line
	held  chan string // the client's notes that it holds a command back
}

// newRoutingServer starts a Client on a pipe whose other end greets with
// the given capabilities and is then driven by the test.
func newRoutingServer(t *testing.T, caps string, opts imapclient.Options) (*imapclient.Client, *routingServer) {
	t.Helper()
	client, server := net.Pipe()
	t.Cleanup(func() { server.Close() })
	s := &routingServer{t: t, conn: server, lines: make(chan string, 16), held: make(chan string, 16)}
	go func() {
		r := bufio.NewReader(server)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				close(s.lines)
				return
			}
			s.lines <- line
		}
	}()
	opts.Logger = slogTo(heldNotes(s.held))
	opts.Debug = 2
	go fmt.Fprintf(server, "* OK [CAPABILITY IMAP4rev1 %s] ready\r\n", caps)
	c, err := imapclient.New(ctxT(t), client, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, s
}

// heldNotes passes on the trace lines that say a command is held back.
type heldNotes chan string

func (h heldNotes) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("holding")) {
		h <- string(p)
	}
	return len(p), nil
}

// expect reads the client's next line and checks it.
func (s *routingServer) expect(want string) {
	s.t.Helper()
	if got := s.next(); got != want {
		s.t.Fatalf("client sent %q, want %q", got, want)
	}
}

func (s *routingServer) next() string {
	s.t.Helper()
	select {
	case line := <-s.lines:
		return line
	case <-time.After(10 * time.Second):
		s.t.Fatal("the client sent nothing")
		return ""
	}
}

// nextOrHeld returns the client's next line, or "" once the client says
// it holds a command back instead of sending it.
func (s *routingServer) nextOrHeld() string {
	s.t.Helper()
	select {
	case line := <-s.lines:
		return line
	case <-s.held:
		return ""
	case <-time.After(10 * time.Second):
		s.t.Fatal("the client neither sent nor held a command")
		return ""
	}
}

func (s *routingServer) send(text string) {
	s.t.Helper()
	if _, err := io.WriteString(s.conn, text); err != nil {
		s.t.Fatal(err)
	}
}

// async runs f in a goroutine and returns a channel with its error.
func async(f func() error) chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

func wait(t *testing.T, ch chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not return")
		return nil
	}
}

// noop checks the connection is still usable and in step.
func noop(t *testing.T, c *imapclient.Client, s *routingServer, tag string) {
	t.Helper()
	done := async(func() error { return c.Noop(ctxT(t)) })
	s.expect(tag + " NOOP\r\n")
	s.send(tag + " OK NOOP completed\r\n")
	if err := wait(t, done); err != nil {
		t.Fatalf("NOOP after: %v", err)
	}
}

// fetchItems are what a listing refresh asks for.
var fetchItems = []string{"UID", "RFC822.SIZE", "INTERNALDATE", "FLAGS"}

func uidsOf(msgs []*imapclient.FetchMessage) []uint32 {
	var uids []uint32
	for _, m := range msgs {
		uids = append(uids, m.UID)
	}
	return uids
}

// body276 is a message of 276 bytes.
var body276 = []byte(strings.Repeat("Subject: a message of exactly 276 bytes\r\n", 6) +
	"\r\n" + strings.Repeat("x", 276-6*41-2-2) + "\r\n")

// FETCH data items may come in any order (RFC 3501 7.4.2): the UID after
// the body must not lose the body.
func TestRoutingUIDAfterBody(t *testing.T) {
	c, s := newRoutingServer(t, "", imapclient.Options{})
	var buf bytes.Buffer
	var n int64
	done := async(func() (err error) {
		n, err = c.UIDFetchBody(ctxT(t), 1, "", 0, 1048576, &buf)
		return err
	})
	s.expect("T1 UID FETCH 1 (BODY.PEEK[]<0.1048576>)\r\n")
	s.send(fmt.Sprintf("* 1 FETCH (BODY[]<0> {%d}\r\n%s UID 1)\r\nT1 OK Fetch completed.\r\n", len(body276), body276))
	if err := wait(t, done); err != nil || n != int64(len(body276)) || !bytes.Equal(buf.Bytes(), body276) {
		t.Fatalf("UIDFetchBody: %d bytes %q, %v", n, buf.Bytes(), err)
	}
}

// A section before the UID of a single-UID fetch is streamed, not held:
// it may be larger than anything the client would hold in memory.
func TestRoutingUIDAfterBodyStreams(t *testing.T) {
	c, s := newRoutingServer(t, "", imapclient.Options{MaxStringSize: 100})
	var buf bytes.Buffer
	done := async(func() error {
		_, err := c.UIDFetchBody(ctxT(t), 1, "", 0, -1, &buf)
		return err
	})
	s.expect("T1 UID FETCH 1 (BODY.PEEK[])\r\n")
	s.send(fmt.Sprintf("* 1 FETCH (BODY[]<0> {%d}\r\n%s FLAGS (\\Seen) UID 1)\r\nT1 OK Fetch completed.\r\n", len(body276), body276))
	if err := wait(t, done); err != nil || !bytes.Equal(buf.Bytes(), body276) {
		t.Fatalf("UIDFetchBody: %q, %v", buf.Bytes(), err)
	}
}

// Two reads pipelined on one connection, answered body first: each gets
// its own message.
func TestRoutingUIDAfterBodyPipelined(t *testing.T) {
	c, s := newRoutingServer(t, "", imapclient.Options{})
	bodies := map[uint32][]byte{1: body276, 2: bytes.ToUpper(body276)}
	var bufs [3]bytes.Buffer
	one := async(func() error { _, err := c.UIDFetchBody(ctxT(t), 1, "", 0, 1000, &bufs[1]); return err })
	s.expect("T1 UID FETCH 1 (BODY.PEEK[]<0.1000>)\r\n")
	two := async(func() error { _, err := c.UIDFetchBody(ctxT(t), 2, "", 0, 1000, &bufs[2]); return err })
	s.expect("T2 UID FETCH 2 (BODY.PEEK[]<0.1000>)\r\n")
	s.send(fmt.Sprintf("* 2 FETCH (BODY[]<0> {276}\r\n%s UID 2)\r\nT2 OK done\r\n", bodies[2]))
	s.send(fmt.Sprintf("* 1 FETCH (BODY[]<0> {276}\r\n%s UID 1)\r\nT1 OK done\r\n", bodies[1]))
	for uid, done := range map[uint32]chan error{1: one, 2: two} {
		if err := wait(t, done); err != nil || !bytes.Equal(bufs[uid].Bytes(), bodies[uid]) {
			t.Errorf("UID %d: %q, %v", uid, bufs[uid].Bytes(), err)
		}
	}
}

// FetchOptions.Body knows the UID of each message, whatever the order.
func TestRoutingBodyCallbackKnowsUID(t *testing.T) {
	c, s := newRoutingServer(t, "", imapclient.Options{})
	got := map[uint32]string{}
	var msgs []*imapclient.FetchMessage
	done := async(func() (err error) {
		msgs, err = c.UIDFetch(ctxT(t), imapclient.SeqSet{{Start: 1, Stop: 2}}, []string{"BODY.PEEK[]<0.100>"}, &imapclient.FetchOptions{
			Body: func(msg *imapclient.FetchMessage, _ string, _ int64) io.Writer {
				return writerTo(func(p []byte) { got[msg.UID] += string(p) })
			},
		})
		return err
	})
	s.expect("T1 UID FETCH 1:2 (BODY.PEEK[]<0.100>)\r\n")
	s.send("* 1 FETCH (BODY[]<0> {5}\r\nfirst UID 1)\r\n* 2 FETCH (UID 2 BODY[]<0> {6}\r\nsecond)\r\nT1 OK done\r\n")
	if err := wait(t, done); err != nil || got[1] != "first" || got[2] != "second" || !slices.Equal(uidsOf(msgs), []uint32{1, 2}) {
		t.Fatalf("bodies %v, messages %v, %v", got, uidsOf(msgs), err)
	}
}

type writerTo func([]byte)

func (w writerTo) Write(p []byte) (int, error) { w(p); return len(p), nil }

// Sections read into memory, UID after the body.
func TestRoutingUIDAfterBodyInMemory(t *testing.T) {
	c, s := newRoutingServer(t, "", imapclient.Options{})
	var msgs []*imapclient.FetchMessage
	done := async(func() (err error) {
		msgs, err = c.UIDFetch(ctxT(t), imapclient.SeqSet{{Start: 1, Stop: 2}}, []string{"BODY.PEEK[HEADER]"}, nil)
		return err
	})
	s.expect("T1 UID FETCH 1:2 (BODY.PEEK[HEADER])\r\n")
	s.send("* 1 FETCH (BODY[HEADER] {4}\r\nh1\r\n UID 1)\r\n* 2 FETCH (BODY[HEADER] \"h2\" UID 2)\r\nT1 OK done\r\n")
	if err := wait(t, done); err != nil || len(msgs) != 2 {
		t.Fatalf("%v, %v", uidsOf(msgs), err)
	}
	for i, want := range []string{"h1\r\n", "h2"} {
		if b, ok := msgs[i].Section("BODY.PEEK[HEADER]"); !ok || string(b) != want || msgs[i].UID != uint32(i+1) {
			t.Errorf("message %d: UID %d section %q", i, msgs[i].UID, b)
		}
	}
}

// The bug seen on Dovecot: the mtime of a directory (FETCH * (INTERNALDATE))
// and a listing refresh (UID FETCH 573:*) pipelined, their answers
// interleaved; "*" matching any message, the first took the refresh's.
// They must not be outstanding together.
func TestRoutingStarFetchesNotPipelined(t *testing.T) {
	c, s := newRoutingServer(t, "", imapclient.Options{})
	var dates, listing []*imapclient.FetchMessage
	first := async(func() (err error) {
		dates, err = c.Fetch(ctxT(t), imapclient.SeqSet{{Start: imapclient.SeqStar, Stop: imapclient.SeqStar}}, []string{"INTERNALDATE"}, nil)
		return err
	})
	s.expect("T1 FETCH * (INTERNALDATE)\r\n")
	second := async(func() (err error) {
		listing, err = c.UIDFetch(ctxT(t), imapclient.SeqSet{{Start: 573, Stop: imapclient.SeqStar}}, fetchItems, nil)
		return err
	})
	refresh := `* 573 FETCH (UID 573 RFC822.SIZE 1201 INTERNALDATE "01-Nov-2026 10:00:00 +0000" FLAGS ())` + "\r\n" +
		`* 574 FETCH (UID 574 RFC822.SIZE 1202 INTERNALDATE "02-Nov-2026 10:00:00 +0000" FLAGS (\Seen))` + "\r\n" +
		`* 575 FETCH (UID 575 RFC822.SIZE 1203 INTERNALDATE "03-Nov-2026 10:00:00 +0000" FLAGS ())` + "\r\n"
	date := `* 575 FETCH (INTERNALDATE "03-Nov-2026 10:00:00 +0000")` + "\r\n"
	if line := s.nextOrHeld(); line != "" {
		// Sent at once: answer as Dovecot did.
		if line != "T2 UID FETCH 573:* (UID RFC822.SIZE INTERNALDATE FLAGS)\r\n" {
			t.Fatalf("client sent %q", line)
		}
		s.send(refresh + date + "T1 OK Fetch completed.\r\nT2 OK Fetch completed.\r\n")
	} else {
		s.send(date + "T1 OK Fetch completed.\r\n")
		s.expect("T2 UID FETCH 573:* (UID RFC822.SIZE INTERNALDATE FLAGS)\r\n")
		s.send(refresh + "T2 OK Fetch completed.\r\n")
	}
	if err := wait(t, first); err != nil || len(dates) != 1 || dates[0].Seq != 575 || dates[0].InternalDate.Day() != 3 {
		t.Errorf("FETCH * (INTERNALDATE): %v messages (UIDs %v), %v", len(dates), uidsOf(dates), err)
	}
	if err := wait(t, second); err != nil || !slices.Equal(uidsOf(listing), []uint32{573, 574, 575}) {
		t.Errorf("UID FETCH 573:*: UIDs %v, %v", uidsOf(listing), err)
	}
}

// Two searches, answered in reverse order: SEARCH carries no tag, so the
// second waits for the first.
func TestRoutingSearchesNotPipelined(t *testing.T) {
	c, s := newRoutingServer(t, "", imapclient.Options{})
	var a, b []uint32
	first := async(func() (err error) {
		a, err = c.UIDSearch(ctxT(t), mustCriteria(t, "FROM alice"))
		return err
	})
	s.expect("T1 UID SEARCH FROM alice\r\n")
	second := async(func() (err error) {
		b, err = c.UIDSearch(ctxT(t), mustCriteria(t, "FROM bob"))
		return err
	})
	if line := s.nextOrHeld(); line != "" {
		if line != "T2 UID SEARCH FROM bob\r\n" {
			t.Fatalf("client sent %q", line)
		}
		s.send("* SEARCH 7 8\r\nT2 OK Search completed.\r\n* SEARCH 1 2\r\nT1 OK Search completed.\r\n")
	} else {
		s.send("* SEARCH 1 2\r\nT1 OK Search completed.\r\n")
		s.expect("T2 UID SEARCH FROM bob\r\n")
		s.send("* SEARCH 7 8\r\nT2 OK Search completed.\r\n")
	}
	if err := wait(t, first); err != nil || !slices.Equal(a, []uint32{1, 2}) {
		t.Errorf("first search: %v, %v", a, err)
	}
	if err := wait(t, second); err != nil || !slices.Equal(b, []uint32{7, 8}) {
		t.Errorf("second search: %v, %v", b, err)
	}
}

func mustCriteria(t *testing.T, text string) *imapclient.SearchCriteria {
	t.Helper()
	crit, err := imapclient.ParseSearchCriteria(text)
	if err != nil {
		t.Fatal(err)
	}
	return crit
}

// ESEARCH names its command in its TAG: extended searches pipeline, and
// answers in reverse order still find their command.
func TestRoutingESearchByTag(t *testing.T) {
	c, s := newRoutingServer(t, "ESEARCH", imapclient.Options{})
	var a, b *imapclient.SearchData
	ret := imapclient.SearchReturn{All: true}
	first := async(func() (err error) {
		a, err = c.UIDSearchExtended(ctxT(t), mustCriteria(t, "FROM alice"), ret)
		return err
	})
	s.expect("T1 UID SEARCH RETURN (ALL) FROM alice\r\n")
	second := async(func() (err error) {
		b, err = c.UIDSearchExtended(ctxT(t), mustCriteria(t, "FROM bob"), ret)
		return err
	})
	s.expect("T2 UID SEARCH RETURN (ALL) FROM bob\r\n")
	s.send("* ESEARCH (TAG \"T2\") UID ALL 7:8\r\nT2 OK done\r\n* ESEARCH (TAG \"T1\") UID ALL 1:2\r\nT1 OK done\r\n")
	if err := wait(t, first); err != nil || a.All.String() != "1:2" {
		t.Errorf("first search: %+v, %v", a, err)
	}
	if err := wait(t, second); err != nil || b.All.String() != "7:8" {
		t.Errorf("second search: %+v, %v", b, err)
	}
}

// Two fetches whose UID sets overlap cannot be told apart for the UIDs in
// common.
func TestRoutingOverlappingSetsNotPipelined(t *testing.T) {
	c, s := newRoutingServer(t, "", imapclient.Options{})
	var a, b []*imapclient.FetchMessage
	first := async(func() (err error) {
		a, err = c.UIDFetch(ctxT(t), imapclient.SeqSet{{Start: 1, Stop: 3}}, []string{"RFC822.SIZE"}, nil)
		return err
	})
	s.expect("T1 UID FETCH 1:3 (RFC822.SIZE)\r\n")
	second := async(func() (err error) {
		b, err = c.UIDFetch(ctxT(t), imapclient.SeqSet{{Start: 3, Stop: 5}}, []string{"RFC822.SIZE"}, nil)
		return err
	})
	answer := func(from, to int) string {
		var b strings.Builder
		for uid := from; uid <= to; uid++ {
			fmt.Fprintf(&b, "* %d FETCH (UID %d RFC822.SIZE %d)\r\n", uid, uid, uid*10)
		}
		return b.String()
	}
	if line := s.nextOrHeld(); line != "" {
		if line != "T2 UID FETCH 3:5 (RFC822.SIZE)\r\n" {
			t.Fatalf("client sent %q", line)
		}
		s.send(answer(3, 5) + "T2 OK done\r\n" + answer(1, 3) + "T1 OK done\r\n")
	} else {
		s.send(answer(1, 3) + "T1 OK done\r\n")
		s.expect("T2 UID FETCH 3:5 (RFC822.SIZE)\r\n")
		s.send(answer(3, 5) + "T2 OK done\r\n")
	}
	if err := wait(t, first); err != nil || !slices.Equal(uidsOf(a), []uint32{1, 2, 3}) {
		t.Errorf("UID FETCH 1:3: %v, %v", uidsOf(a), err)
	}
	if err := wait(t, second); err != nil || !slices.Equal(uidsOf(b), []uint32{3, 4, 5}) {
		t.Errorf("UID FETCH 3:5: %v, %v", uidsOf(b), err)
	}
}

// Reads of different messages pipeline: the common case stays fast.
func TestRoutingDisjointReadsPipeline(t *testing.T) {
	c, s := newRoutingServer(t, "", imapclient.Options{})
	var dones []chan error
	for uid := uint32(1); uid <= 3; uid++ {
		dones = append(dones, async(func() error {
			var buf bytes.Buffer
			if _, err := c.UIDFetchBody(ctxT(t), uid, "", 0, 100, &buf); err != nil || buf.String() != fmt.Sprint("body", uid) {
				return fmt.Errorf("UID %d: %q, %v", uid, buf.String(), err)
			}
			return nil
		}))
		s.expect(fmt.Sprintf("T%d UID FETCH %d (BODY.PEEK[]<0.100>)\r\n", uid, uid))
	}
	// A directory's date and a listing refresh ask for other items.
	dates := async(func() error {
		_, err := c.Fetch(ctxT(t), imapclient.SeqSet{{Start: imapclient.SeqStar, Stop: imapclient.SeqStar}}, []string{"INTERNALDATE"}, nil)
		return err
	})
	s.expect("T4 FETCH * (INTERNALDATE)\r\n")
	s.send("* 3 FETCH (UID 3 BODY[]<0> {5}\r\nbody3)\r\n* 1 FETCH (UID 1 BODY[]<0> {5}\r\nbody1)\r\n" +
		"* 3 FETCH (INTERNALDATE \"03-Nov-2026 10:00:00 +0000\")\r\n* 2 FETCH (BODY[]<0> {5}\r\nbody2 UID 2)\r\n" +
		"T4 OK done\r\nT3 OK done\r\nT2 OK done\r\nT1 OK done\r\n")
	for _, done := range append(dones, dates) {
		if err := wait(t, done); err != nil {
			t.Error(err)
		}
	}
}

// An unsolicited flag update for a message being read is not the read's
// answer.
func TestRoutingUnsolicitedFlagsNotAnAnswer(t *testing.T) {
	var mu sync.Mutex
	var updates []*imapclient.FetchMessage
	c, s := newRoutingServer(t, "", imapclient.Options{Updates: func(u imapclient.Update) {
		if m, ok := u.(imapclient.MessageUpdate); ok {
			mu.Lock()
			updates = append(updates, m.Message)
			mu.Unlock()
		}
	}})
	var buf bytes.Buffer
	done := async(func() error {
		_, err := c.UIDFetchBody(ctxT(t), 7, "", 0, 100, &buf)
		return err
	})
	s.expect("T1 UID FETCH 7 (BODY.PEEK[]<0.100>)\r\n")
	s.send("* 3 FETCH (FLAGS (\\Seen) UID 7)\r\n* 3 FETCH (UID 7 BODY[]<0> {5}\r\nhello)\r\nT1 OK done\r\n")
	if err := wait(t, done); err != nil || buf.String() != "hello" {
		t.Fatalf("read: %q, %v", buf.String(), err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(updates) != 1 || updates[0].UID != 7 || !slices.Equal(updates[0].Flags, []string{`\Seen`}) {
		t.Errorf("updates: %v", updates)
	}
}

// UID FETCH 5:* when the highest UID is 4 is answered with UID 4 (RFC 3501
// 6.4.8): that is the command's answer.
func TestRoutingStarBelowStart(t *testing.T) {
	c, s := newRoutingServer(t, "", imapclient.Options{})
	var msgs []*imapclient.FetchMessage
	done := async(func() (err error) {
		msgs, err = c.UIDFetch(ctxT(t), imapclient.SeqSet{{Start: 5, Stop: imapclient.SeqStar}}, fetchItems, nil)
		return err
	})
	s.expect("T1 UID FETCH 5:* (UID RFC822.SIZE INTERNALDATE FLAGS)\r\n")
	s.send(`* 4 FETCH (UID 4 RFC822.SIZE 10 INTERNALDATE "03-Nov-2026 10:00:00 +0000" FLAGS ())` + "\r\nT1 OK done\r\n")
	if err := wait(t, done); err != nil || !slices.Equal(uidsOf(msgs), []uint32{4}) {
		t.Fatalf("UIDs %v, %v", uidsOf(msgs), err)
	}
}

// Expunges go to the one command that caused them: a second command that
// expunges waits for the first.
func TestRoutingExpungesNotShared(t *testing.T) {
	c, s := newRoutingServer(t, "UIDPLUS MOVE", imapclient.Options{})
	var x imapclient.Expunged
	var moved *imapclient.MoveResult
	first := async(func() (err error) {
		x, err = c.UIDExpunge(ctxT(t), imapclient.SeqSet{{Start: 3, Stop: 3}})
		return err
	})
	s.expect("T1 UID EXPUNGE 3\r\n")
	second := async(func() (err error) {
		moved, err = c.UIDMove(ctxT(t), imapclient.SeqSet{{Start: 4, Stop: 4}}, "Archive")
		return err
	})
	if line := s.nextOrHeld(); line != "" {
		if line != "T2 UID MOVE 4 Archive\r\n" {
			t.Fatalf("client sent %q", line)
		}
		s.send("* 3 EXPUNGE\r\nT1 OK Expunge completed.\r\n* OK [COPYUID 9 4 1] Moved\r\n* 3 EXPUNGE\r\nT2 OK Move completed.\r\n")
	} else {
		s.send("* 3 EXPUNGE\r\nT1 OK Expunge completed.\r\n")
		s.expect("T2 UID MOVE 4 Archive\r\n")
		s.send("* OK [COPYUID 9 4 1] Moved\r\n* 3 EXPUNGE\r\nT2 OK Move completed.\r\n")
	}
	if err := wait(t, first); err != nil || !slices.Equal(x.Seqs, []uint32{3}) {
		t.Errorf("UID EXPUNGE: %+v, %v", x, err)
	}
	if err := wait(t, second); err != nil || !slices.Equal(moved.Expunged.Seqs, []uint32{3}) || moved.CopyUID == nil {
		t.Errorf("UID MOVE: %+v, %v", moved, err)
	}
}

// A malformed FETCH response fails the command it answers, rather than
// leaving the message out; the connection stays in step.
func TestRoutingMalformedFetchFailsCommand(t *testing.T) {
	c, s := newRoutingServer(t, "", imapclient.Options{})
	var msgs []*imapclient.FetchMessage
	done := async(func() (err error) {
		msgs, err = c.UIDFetch(ctxT(t), imapclient.SeqSet{{Start: 1, Stop: 2}}, []string{"RFC822.SIZE"}, nil)
		return err
	})
	s.expect("T1 UID FETCH 1:2 (RFC822.SIZE)\r\n")
	s.send("* 1 FETCH (UID 1 RFC822.SIZE 10)\r\n* 2 FETCH (UID 2 RFC822.SIZE ten)\r\nT1 OK done\r\n")
	var perr *imapwire.ProtocolError
	if err := wait(t, done); !errors.As(err, &perr) {
		t.Fatalf("UID FETCH: %v messages, %v", uidsOf(msgs), err)
	}
	noop(t, c, s, "T2")
}

// A known response code with arguments it does not take is kept as an
// unknown code; the connection goes on.
func TestRoutingOddCodeInTaggedResponse(t *testing.T) {
	c, s := newRoutingServer(t, "", imapclient.Options{})
	done := async(func() error { return c.Noop(ctxT(t)) })
	s.expect("T1 NOOP\r\n")
	s.send("T1 OK [HIGHESTMODSEQ] NOOP completed\r\n")
	if err := wait(t, done); err != nil {
		t.Fatalf("NOOP: %v", err)
	}
	done = async(func() error {
		_, err := c.UIDSearch(ctxT(t), mustCriteria(t, "SUBJECT café"))
		return err
	})
	s.expect("T2 UID SEARCH CHARSET UTF-8 SUBJECT {5}\r\n")
	s.send("T2 NO [BADCHARSET UTF-8] Unsupported charset\r\n")
	var st *imapclient.StatusError
	if err := wait(t, done); !errors.As(err, &st) || !st.HasCode(imapwire.CodeBadCharset) || st.Code.Known() {
		t.Fatalf("search: %v", err)
	}
	noop(t, c, s, "T3")
}

// A "+" no command waits for is ignored.
func TestRoutingStrayContinuation(t *testing.T) {
	c, s := newRoutingServer(t, "", imapclient.Options{})
	done := async(func() error { return c.Noop(ctxT(t)) })
	s.expect("T1 NOOP\r\n")
	s.send("+ go ahead\r\nT1 OK NOOP completed\r\n")
	if err := wait(t, done); err != nil {
		t.Fatalf("NOOP: %v", err)
	}
	noop(t, c, s, "T2")
}

// A section read into memory is bounded by Options.MaxStringSize, whatever
// size the server announces: beyond it the command fails, not the
// connection.
func TestRoutingSectionBeyondMaxStringSize(t *testing.T) {
	c, s := newRoutingServer(t, "", imapclient.Options{MaxStringSize: 100})
	done := async(func() error {
		_, err := c.UIDFetch(ctxT(t), imapclient.SeqSet{{Start: 1, Stop: 1}}, []string{"BODY.PEEK[]"}, nil)
		return err
	})
	s.expect("T1 UID FETCH 1 (BODY.PEEK[])\r\n")
	s.send(fmt.Sprintf("* 1 FETCH (UID 1 BODY[] {%d}\r\n%s)\r\nT1 OK done\r\n", len(body276), body276))
	if err := wait(t, done); !errors.Is(err, imapclient.ErrResponseTooLarge) {
		t.Fatalf("UID FETCH: %v", err)
	}
	noop(t, c, s, "T2")
}

// The server's BYE and a Close at the same time: no data race.
func TestRoutingByeWhileClosing(t *testing.T) {
	c, s := newRoutingServer(t, "", imapclient.Options{})
	s.send("* BYE shutting down\r\n")
	c.Close()
	<-c.Done()
	if err := c.Err(); !errors.Is(err, imapclient.ErrAbort) {
		t.Errorf("Err: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Noop(ctx); err == nil {
		t.Error("NOOP on a closed connection succeeded")
	}
}

// An ESEARCH without TAG while two extended searches are pending could be
// either's: both fail rather than one get the other's result.
func TestRoutingESearchWithoutTag(t *testing.T) {
	c, s := newRoutingServer(t, "ESEARCH", imapclient.Options{})
	ret := imapclient.SearchReturn{All: true}
	first := async(func() error {
		_, err := c.UIDSearchExtended(ctxT(t), mustCriteria(t, "FROM alice"), ret)
		return err
	})
	s.expect("T1 UID SEARCH RETURN (ALL) FROM alice\r\n")
	second := async(func() error {
		_, err := c.UIDSearchExtended(ctxT(t), mustCriteria(t, "FROM bob"), ret)
		return err
	})
	s.expect("T2 UID SEARCH RETURN (ALL) FROM bob\r\n")
	s.send("* ESEARCH UID ALL 7:8\r\nT2 OK done\r\n* ESEARCH UID ALL 1:2\r\nT1 OK done\r\n")
	var perr *imapwire.ProtocolError
	if err := wait(t, second); !errors.As(err, &perr) {
		t.Errorf("second search: %v", err)
	}
	// The first, alone by the time the second answer came, failed already.
	if err := wait(t, first); !errors.As(err, &perr) {
		t.Errorf("first search: %v", err)
	}
	noop(t, c, s, "T3")
}

// A command held back for a conflicting one gives up when its context
// ends, and is never sent.
func TestRoutingHeldCommandHonoursContext(t *testing.T) {
	c, s := newRoutingServer(t, "", imapclient.Options{})
	first := async(func() error {
		_, err := c.UIDSearch(ctxT(t), mustCriteria(t, "FROM alice"))
		return err
	})
	s.expect("T1 UID SEARCH FROM alice\r\n")
	ctx, cancel := context.WithCancel(ctxT(t))
	second := async(func() error {
		_, err := c.UIDSearch(ctx, mustCriteria(t, "FROM bob"))
		return err
	})
	if line := s.nextOrHeld(); line != "" {
		t.Fatalf("client sent %q while T1 was pending", line)
	}
	cancel()
	if err := wait(t, second); !errors.Is(err, context.Canceled) {
		t.Fatalf("held search: %v", err)
	}
	s.send("* SEARCH 1\r\nT1 OK done\r\n")
	if err := wait(t, first); err != nil {
		t.Fatal(err)
	}
	noop(t, c, s, "T2")
}

// A malformed unsolicited flag update does not fail a read it is not the
// answer of.
func TestRoutingMalformedUpdateLeavesReadAlone(t *testing.T) {
	c, s := newRoutingServer(t, "", imapclient.Options{})
	var buf bytes.Buffer
	done := async(func() error {
		_, err := c.UIDFetchBody(ctxT(t), 7, "", 0, 100, &buf)
		return err
	})
	s.expect("T1 UID FETCH 7 (BODY.PEEK[]<0.100>)\r\n")
	s.send("* 3 FETCH (UID 7 FLAGS (\\Seen \"x\"))\r\n* 3 FETCH (UID 7 BODY[]<0> {5}\r\nhello)\r\nT1 OK done\r\n")
	if err := wait(t, done); err != nil || buf.String() != "hello" {
		t.Fatalf("read: %q, %v", buf.String(), err)
	}
}

// A section held until its UID comes is bounded by MaxStringSize too:
// beyond it the command it belongs to fails, and only that one.
func TestRoutingHeldSectionBeyondMaxStringSize(t *testing.T) {
	c, s := newRoutingServer(t, "", imapclient.Options{MaxStringSize: 100})
	var bufs [3]bytes.Buffer
	one := async(func() error { _, err := c.UIDFetchBody(ctxT(t), 1, "", 0, 1000, &bufs[1]); return err })
	s.expect("T1 UID FETCH 1 (BODY.PEEK[]<0.1000>)\r\n")
	two := async(func() error { _, err := c.UIDFetchBody(ctxT(t), 2, "", 0, 1000, &bufs[2]); return err })
	s.expect("T2 UID FETCH 2 (BODY.PEEK[]<0.1000>)\r\n")
	s.send(fmt.Sprintf("* 1 FETCH (BODY[]<0> {276}\r\n%s UID 1)\r\nT1 OK done\r\n", body276))
	s.send(fmt.Sprintf("* 2 FETCH (UID 2 BODY[]<0> {276}\r\n%s)\r\nT2 OK done\r\n", body276))
	if err := wait(t, one); !errors.Is(err, imapclient.ErrResponseTooLarge) {
		t.Errorf("UID 1: %d bytes, %v", bufs[1].Len(), err)
	}
	if err := wait(t, two); err != nil || !bytes.Equal(bufs[2].Bytes(), body276) {
		t.Errorf("UID 2: %d bytes, %v", bufs[2].Len(), err)
	}
	noop(t, c, s, "T3")
}

// A malformed UIDVALIDITY in SELECT's tagged OK is no UIDVALIDITY: the one
// the untagged OK gave stands.
func TestRoutingOddCodeKeepsMailboxStatus(t *testing.T) {
	c, s := newRoutingServer(t, "", imapclient.Options{})
	var m *imapclient.MailboxStatus
	done := async(func() (err error) {
		m, err = c.Select(ctxT(t), "INBOX", true)
		return err
	})
	s.expect("T1 EXAMINE INBOX\r\n")
	s.send("* 3 EXISTS\r\n* OK [UIDVALIDITY 1234] UIDs valid\r\nT1 OK [UIDVALIDITY abc] EXAMINE completed\r\n")
	if err := wait(t, done); err != nil || m.UIDValidity != 1234 || m.Exists != 3 {
		t.Fatalf("EXAMINE: %+v, %v", m, err)
	}
}

// A tagged response with a status that is not OK, NO or BAD ends the
// connection, and with it the command it names: that command must not be
// left waiting for its context (found by FuzzClient).
func TestRoutingUnknownTaggedStatus(t *testing.T) {
	c, s := newRoutingServer(t, "", imapclient.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	done := async(func() error { return c.Noop(ctx) })
	s.expect("T1 NOOP\r\n")
	s.send("T1 MAYBE done\r\n")
	if err := wait(t, done); !errors.Is(err, imapclient.ErrAbort) {
		t.Fatalf("NOOP: %v, want the connection's failure", err)
	}
}

// STATUS responses name their mailbox: STATUS commands of different
// mailboxes pipeline, and answers in any order find their command; one of
// the same mailbox, or a LIST-STATUS, waits.
func TestRoutingStatusByMailbox(t *testing.T) {
	c, s := newRoutingServer(t, "LIST-EXTENDED LIST-STATUS", imapclient.Options{})
	status := func(mailbox string, into **imapclient.StatusData) chan error {
		return async(func() (err error) {
			*into, err = c.Status(ctxT(t), mailbox, imapclient.StatusMessages)
			return err
		})
	}
	var a, b, inbox *imapclient.StatusData
	first := status("A", &a)
	s.expect("T1 STATUS A (MESSAGES)\r\n")
	second := status("B", &b)
	s.expect("T2 STATUS B (MESSAGES)\r\n")
	third := status("inbox", &inbox)
	s.expect("T3 STATUS INBOX (MESSAGES)\r\n")
	var listed []*imapclient.MailboxInfo
	list := async(func() (err error) {
		listed, err = c.ListExtended(ctxT(t), "", []string{"*"}, imapclient.ListOptions{ReturnStatus: []string{imapclient.StatusMessages}})
		return err
	})
	if line := s.nextOrHeld(); line != "" {
		t.Fatalf("LIST-STATUS sent while STATUS commands were pending: %q", line)
	}
	s.send("* STATUS INBOX (MESSAGES 9)\r\nT3 OK done\r\n* STATUS B (MESSAGES 2)\r\nT2 OK done\r\n* STATUS A (MESSAGES 1)\r\nT1 OK done\r\n")
	for _, r := range []struct {
		done chan error
		got  **imapclient.StatusData
		want uint32
	}{{first, &a, 1}, {second, &b, 2}, {third, &inbox, 9}} {
		if err := wait(t, r.done); err != nil || (*r.got).Messages != r.want {
			t.Errorf("STATUS: %+v, %v; want MESSAGES %d", *r.got, err, r.want)
		}
	}
	s.expect("T4 LIST \"\" \"*\" RETURN (STATUS (MESSAGES))\r\n")
	s.send("* LIST () \"/\" A\r\n* STATUS A (MESSAGES 1)\r\nT4 OK done\r\n")
	if err := wait(t, list); err != nil || len(listed) != 1 || listed[0].Status == nil || listed[0].Status.Messages != 1 {
		t.Errorf("LIST-STATUS: %+v, %v", listed, err)
	}
	// Two of the same mailbox cannot be told apart.
	first = status("A", &a)
	s.expect("T5 STATUS A (MESSAGES)\r\n")
	second = status("A", &b)
	if line := s.nextOrHeld(); line != "" {
		t.Fatalf("a second STATUS of A sent while the first was pending: %q", line)
	}
	s.send("* STATUS A (MESSAGES 3)\r\nT5 OK done\r\n")
	s.expect("T6 STATUS A (MESSAGES)\r\n")
	s.send("* STATUS A (MESSAGES 4)\r\nT6 OK done\r\n")
	if err := wait(t, first); err != nil || a.Messages != 3 {
		t.Errorf("first STATUS of A: %+v, %v", a, err)
	}
	if err := wait(t, second); err != nil || b.Messages != 4 {
		t.Errorf("second STATUS of A: %+v, %v", b, err)
	}
}

// A STATUS response that cannot be read fails only the STATUS command
// that asked about its mailbox: one nobody asked for (a broken server's,
// or NOTIFY's), or one about another mailbox, is skipped, and the
// connection and the other commands go on.
func TestRoutingBrokenStatus(t *testing.T) {
	c, s := newRoutingServer(t, "", imapclient.Options{})
	s.send("* STATUS Unasked (MESSAGES many)\r\n")
	noop(t, c, s, "T1")

	var b *imapclient.StatusData
	other := async(func() (err error) {
		b, err = c.Status(ctxT(t), "B", imapclient.StatusMessages)
		return err
	})
	s.expect("T2 STATUS B (MESSAGES)\r\n")
	s.send("* STATUS A (MESSAGES many)\r\n* STATUS B (MESSAGES 2)\r\nT2 OK done\r\n")
	if err := wait(t, other); err != nil || b.Messages != 2 {
		t.Fatalf("STATUS B after a broken STATUS of A: %+v, %v", b, err)
	}

	asked := async(func() error {
		_, err := c.Status(ctxT(t), "A", imapclient.StatusMessages)
		return err
	})
	s.expect("T3 STATUS A (MESSAGES)\r\n")
	s.send("* STATUS A (MESSAGES many)\r\nT3 OK done\r\n")
	var perr *imapwire.ProtocolError
	if err := wait(t, asked); !errors.As(err, &perr) || !strings.Contains(err.Error(), "many") {
		t.Fatalf("STATUS A answered by a broken STATUS of A: %v, want the protocol error", err)
	}
	noop(t, c, s, "T4")
}

// FetchOptions.Sent says when the command went out: before its answer,
// and also when it could not be sent.
func TestFetchSentBeforeAnswer(t *testing.T) {
	c, s := newRoutingServer(t, "", imapclient.Options{})
	sent := make(chan struct{})
	done := async(func() error {
		_, err := c.UIDFetch(ctxT(t), seqSet(1), []string{"FLAGS"}, &imapclient.FetchOptions{Sent: func() { close(sent) }})
		return err
	})
	s.expect("T1 UID FETCH 1 (FLAGS)\r\n")
	select {
	case <-sent:
	case <-time.After(10 * time.Second):
		t.Fatal("Sent was not called once the command was written")
	}
	s.send("* 1 FETCH (UID 1 FLAGS (\\Seen))\r\nT1 OK done\r\n")
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(ctxT(t))
	cancel()
	called := false
	_, err := c.UIDFetch(ctx, seqSet(2), []string{"FLAGS"}, &imapclient.FetchOptions{Sent: func() { called = true }})
	if err == nil || !called {
		t.Errorf("a fetch whose context ended before sending: err %v, Sent called %v", err, called)
	}
}

// WhenSent tells a caller that its command went out, before the answer:
// a NOOP sent under it, then a LIST right behind it, reach the server in
// that order.
func TestWhenSentBeforeAnswer(t *testing.T) {
	c, s := newRoutingServer(t, "", imapclient.Options{})
	sent := make(chan struct{})
	noop := async(func() error {
		return c.Noop(imapclient.WhenSent(ctxT(t), func() { close(sent) }))
	})
	s.expect("T1 NOOP\r\n")
	select {
	case <-sent:
	case <-time.After(10 * time.Second):
		t.Fatal("the WhenSent function was not called once the NOOP was written")
	}
	list := async(func() error {
		_, err := c.List(ctxT(t), "", "*")
		return err
	})
	s.expect("T2 LIST \"\" \"*\"\r\n")
	s.send("T1 OK done\r\n* LIST () \"/\" INBOX\r\nT2 OK done\r\n")
	if err := wait(t, noop); err != nil {
		t.Fatal(err)
	}
	if err := wait(t, list); err != nil {
		t.Fatal(err)
	}
}
