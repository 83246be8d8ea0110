package imapclient_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"imapfs/imapclient"
)

// FuzzClient runs a whole Client against arbitrary server bytes while
// commands of every kind are pending: SELECT, FETCH with and without
// bodies, LIST, STATUS and SEARCH. Whatever the server sends, the Client
// must not panic, every call must return soon after the connection ends,
// what it holds must stay bounded, and no command may be handed an answer
// that cannot be its own.
//
// The input is the server's side of the conversation. An empty line
// ("\r\n\r\n") splits it into steps: before each step the server waits
// (briefly) for one more command line from the client, so answers can
// follow the commands they answer. After the last step the server closes
// the connection.
func FuzzClient(f *testing.F) {
	for _, seed := range fuzzClientSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, script []byte) {
		runFuzzClient(t, script)
	})
}

// fuzzMaxString is the Client's MaxStringSize in the fuzz target: no
// string the server announces may make it hold much more than this.
const fuzzMaxString = 64 << 10

func runFuzzClient(t *testing.T, script []byte) {
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	clientConn, serverConn := net.Pipe()
	defer clientConn.Close()
	defer serverConn.Close()
	lines := make(chan struct{}, 64)
	go fuzzServerRead(serverConn, lines)
	steps := bytes.Split(script, []byte("\r\n\r\n"))
	go func() {
		defer serverConn.Close()
		for i, step := range steps {
			if i > 0 {
				select {
				case <-lines:
				case <-time.After(20 * time.Millisecond):
				}
			}
			if i < len(steps)-1 {
				step = append(step[:len(step):len(step)], '\r', '\n')
			}
			serverConn.SetWriteDeadline(time.Now().Add(2 * time.Second))
			if _, err := serverConn.Write(step); err != nil {
				return
			}
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := imapclient.New(ctx, clientConn, imapclient.Options{MaxStringSize: fuzzMaxString})
	if err != nil {
		return
	}
	defer c.Close()

	var wg sync.WaitGroup
	var mu sync.Mutex
	var problems []string
	report := func(format string, args ...any) {
		mu.Lock()
		problems = append(problems, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	// Each command starts once the one before it is on the wire (or a
	// moment later, if the Client holds it back), so tags follow the order
	// below as far as the Client allows.
	run := func(f func()) {
		wg.Go(f)
		select {
		case <-time.After(5 * time.Millisecond):
		case <-c.Done():
		}
	}
	run(func() {
		if _, err := c.Select(ctx, "INBOX", true); err != nil {
			return
		}
	})
	run(func() {
		msgs, err := c.UIDFetch(ctx, imapclient.SeqSet{{Start: 1, Stop: 3}},
			[]string{imapclient.FetchUID, imapclient.FetchFlags, imapclient.FetchRFC822Size}, nil)
		if err != nil {
			return
		}
		for _, m := range msgs {
			if m.UID < 1 || m.UID > 3 || !m.Has(imapclient.FetchRFC822Size) {
				report("UID FETCH 1:3 (UID FLAGS RFC822.SIZE) was given UID %d with %v", m.UID, m)
			}
		}
	})
	run(func() {
		var buf bytes.Buffer
		n, err := c.UIDFetchBody(ctx, 2, "", 0, 100, &buf)
		if err == nil && n > 100 {
			report("UID FETCH 2 BODY.PEEK[]<0.100> returned %d bytes", n)
		}
	})
	run(func() {
		msgs, err := c.UIDFetch(ctx, imapclient.SeqSet{{Start: 7, Stop: 7}},
			[]string{"BODY.PEEK[HEADER]"}, nil)
		if err != nil {
			return
		}
		for _, m := range msgs {
			if m.UID != 7 || len(m.Sections) == 0 {
				report("UID FETCH 7 (BODY.PEEK[HEADER]) was given UID %d with %v", m.UID, m)
			}
		}
	})
	run(func() { c.List(ctx, "", "*") })
	run(func() {
		st, err := c.Status(ctx, "Work", "MESSAGES", "UIDNEXT")
		if err == nil && st.Mailbox != "Work" {
			report("STATUS Work was given the status of %q", st.Mailbox)
		}
	})
	run(func() { c.UIDSearch(ctx, nil) })

	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		buf := make([]byte, 1<<20)
		t.Fatalf("commands still running 10 s after the start:\n%s", buf[:runtime.Stack(buf, true)])
	}
	for _, p := range problems {
		t.Error(p)
	}

	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	// Every byte may be held a few times over (buffers, parsed copies), and
	// each of the seven commands may hold one string of the maximum size.
	limit := uint64(8<<20 + 16*len(script) + 7*4*fuzzMaxString)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > limit {
		t.Errorf("allocated %d bytes for %d bytes from the server (limit %d)", grew, len(script), limit)
	}
}

// fuzzServerRead reads the client's commands, signalling each line (a
// literal's content is read as lines too, which is all the pacing needs).
func fuzzServerRead(conn net.Conn, lines chan<- struct{}) {
	r := bufio.NewReader(conn)
	for {
		if _, err := r.ReadString('\n'); err != nil {
			io.Copy(io.Discard, r)
			return
		}
		select {
		case lines <- struct{}{}:
		default:
		}
	}
}

// fuzzClientSeeds are whole conversations: well-formed, reordered, and
// the shapes that broke the Client before.
var fuzzClientSeeds = []string{
	// Every command answered in order.
	"* OK [CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS ESEARCH] ready\r\n" +
		"\r\n* 3 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 42] x\r\n* OK [UIDNEXT 8] x\r\n* FLAGS (\\Seen $Odd[x])\r\nT1 OK [READ-ONLY] done\r\n" +
		"\r\n* 1 FETCH (UID 1 FLAGS (\\Seen) RFC822.SIZE 10)\r\n* 2 FETCH (UID 2 FLAGS () RFC822.SIZE 5)\r\nT2 OK done\r\n" +
		"\r\n* 2 FETCH (UID 2 BODY[]<0> {5}\r\nhello)\r\nT3 OK done\r\n" +
		"\r\n* 3 FETCH (UID 7 BODY[HEADER] {4}\r\nA: b)\r\nT4 OK done\r\n" +
		"\r\n* LIST (\\HasNoChildren) \"/\" INBOX\r\n* LIST () \"/\" Work\r\nT5 OK done\r\n" +
		"\r\n* STATUS Work (MESSAGES 2 UIDNEXT 9)\r\nT6 OK done\r\n" +
		"\r\n* SEARCH 1 2 7\r\nT7 OK done\r\n",
	// Items in other orders, answers out of order, a flag update in a
	// command's set, ESEARCH with its tag.
	"* OK ready\r\n" +
		"\r\n* 3 EXISTS\r\n* OK [UIDVALIDITY 42] x\r\nT1 OK done\r\n" +
		"\r\n* 2 FETCH (RFC822.SIZE 5 FLAGS () UID 2)\r\n* 1 FETCH (FLAGS (\\Seen))\r\n" +
		"\r\n* 2 FETCH (BODY[]<0> {5}\r\nhello UID 2)\r\n" +
		"\r\n* 3 FETCH (BODY[HEADER] {4}\r\nA: b UID 7)\r\nT4 OK done\r\nT3 OK done\r\nT2 OK done\r\n" +
		"\r\n* STATUS Other (MESSAGES 1)\r\n* LIST () \"/\" Work\r\n" +
		"\r\n* STATUS Work (MESSAGES 2)\r\nT6 OK done\r\nT5 OK done\r\n" +
		"\r\n* ESEARCH (TAG \"T7\") UID ALL 1:2,7\r\nT7 OK done\r\n",
	// The mtime and refresh shape: FETCH * and UID FETCH n:* interleaved.
	"* OK [CAPABILITY IMAP4rev1] ready\r\n" +
		"\r\n* 5 EXISTS\r\n* OK [UIDVALIDITY 1] x\r\nT1 OK done\r\n" +
		"\r\n* 5 FETCH (UID 3 INTERNALDATE \"01-Jan-2024 00:00:00 +0000\")\r\n* 4 FETCH (UID 2 RFC822.SIZE 7 FLAGS ())\r\nT2 OK done\r\n" +
		"\r\n",
	// Broken pieces: a malformed FETCH, codes with odd arguments, a stray
	// continuation, huge literal announcements, a BYE.
	"* OK [CAPABILITY IMAP4rev1] ready\r\n" +
		"\r\n* 3 EXISTS\r\n* OK [HIGHESTMODSEQ] x\r\n* OK [PERMANENTFLAGS (\\Seen $a[b] \\*)] x\r\nT1 OK [UNKNOWN-CODE a (b c)] done\r\n" +
		"\r\n* 1 FETCH (UID x FLAGS)\r\n+ stray\r\nT2 NO [BADCHARSET UTF-8] no\r\n" +
		"\r\n* 2 FETCH (UID 2 BODY[]<0> {999999999999}\r\nabc\r\n" +
		"\r\n* 3 FETCH (UID 7 BODY[HEADER] ~{4000000}\r\nxx\r\n" +
		"\r\n* BYE going\r\n",
	// IMAP4rev2 shapes.
	"* OK [CAPABILITY IMAP4rev2 AUTH=PLAIN] ready\r\n" +
		"\r\n* 2 EXISTS\r\n* OK [UIDVALIDITY 9] x\r\n* LIST () \"/\" INBOX (\"OLDNAME\" (\"inbox\"))\r\nT1 OK done\r\n" +
		"\r\n* 1 FETCH (UID 1 FLAGS (\\Seen) RFC822.SIZE 10)\r\n* VANISHED 2\r\nT2 OK done\r\n" +
		"\r\n",
}
