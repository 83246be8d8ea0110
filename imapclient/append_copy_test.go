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
	"strconv"
	"strings"
	"testing"
	"time"

	"imapfs/imapclient"
	"imapfs/imapclient/imapwire"
	"imapfs/test"
)

// appendBody is a small message with CRLF line ends, as servers store it.
func appendBody(subject string) []byte {
	return []byte("From: a@example.com\r\nSubject: " + subject + "\r\n\r\nbody of " + subject + "\r\n")
}

func appendSet(nums ...uint32) imapclient.SeqSet {
	var set imapclient.SeqSet
	set.AddNum(nums...)
	return set
}

// appendStatusUIDValidity reads a mailbox's UIDVALIDITY through the
// harness's own session, not through imapclient.
func appendStatusUIDValidity(t *testing.T, s *test.Server, u test.User, mailbox string) uint32 {
	t.Helper()
	name, err := imapclient.EncodeMailboxName(mailbox)
	if err != nil {
		t.Fatal(err)
	}
	lines, _, err := s.Session(t, u).Run(`STATUS "` + name + `" (UIDVALIDITY)`)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		if _, rest, ok := strings.Cut(l, "UIDVALIDITY "); ok {
			n, err := strconv.ParseUint(strings.TrimRight(rest, ")"), 10, 32)
			if err != nil {
				t.Fatalf("STATUS line %q", l)
			}
			return uint32(n)
		}
	}
	t.Fatalf("no UIDVALIDITY in %q", lines)
	return 0
}

// APPEND stores the exact bytes with flags and date, and APPENDUID names
// the UID the server shows.
func TestAppendExact(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		c := login(t, s, u, imapclient.Options{})
		ctx := ctxT(t)
		body := appendBody("exact")
		date := time.Date(2024, 2, 29, 23, 59, 58, 0, time.FixedZone("", -7*3600))
		uid, err := c.Append(ctx, "INBOX", imapclient.AppendMessage{
			Flags: []string{imapclient.FlagSeen, "$Label1"}, Date: date,
			Size: int64(len(body)), Body: bytes.NewReader(body),
		})
		if err != nil {
			t.Fatal(err)
		}
		bare := appendBody("bare")
		uid2, err := c.Append(ctx, "INBOX", imapclient.AppendMessage{Size: int64(len(bare)), Body: bytes.NewReader(bare)})
		if err != nil {
			t.Fatal(err)
		}
		stored := s.Messages(t, u, "INBOX")
		if len(stored) != 2 {
			t.Fatalf("server holds %+v", stored)
		}
		want := stored[0]
		if uid.UID != want.UID || uid.UIDValidity != appendStatusUIDValidity(t, s, u, "INBOX") {
			t.Errorf("APPENDUID %+v, server has UID %d", uid, want.UID)
		}
		if want.Size != int64(len(body)) || !want.InternalDate.Equal(date) || !slices.Equal(want.Flags, []string{"$Label1", `\Seen`}) {
			t.Errorf("stored %+v", want)
		}
		if got := s.Body(t, u, "INBOX", want.UID); !bytes.Equal(got, body) {
			t.Errorf("stored body %q, want %q", got, body)
		}
		if uid2.UID != stored[1].UID || len(stored[1].Flags) != 0 || time.Since(stored[1].InternalDate) > time.Hour {
			t.Errorf("APPEND without flags or date: %+v, stored %+v", uid2, stored[1])
		}
	})
}

// Refusals keep their response codes, bad arguments never reach the
// server, and the connection stays usable after each.
func TestAppendErrors(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		c := login(t, s, u, imapclient.Options{})
		ctx := ctxT(t)
		body := appendBody("refused")
		msg := func() imapclient.AppendMessage {
			return imapclient.AppendMessage{Size: int64(len(body)), Body: bytes.NewReader(body)}
		}
		_, err := c.Append(ctx, s.Personal("Missing"), msg())
		var se *imapclient.StatusError
		if !errors.Is(err, imapclient.ErrNo) || !errors.As(err, &se) || !se.HasCode(imapwire.CodeTryCreate) {
			t.Errorf("APPEND to a missing mailbox: %v, want NO [TRYCREATE]", err)
		}
		_, err = c.Append(ctx, "INBOX\r\nX DELETE INBOX", msg())
		var argErr *imapwire.ArgumentError
		if !errors.As(err, &argErr) {
			t.Errorf("hostile mailbox name: %v", err)
		}
		m := msg()
		m.Flags = []string{imapclient.FlagRecent}
		if _, err := c.Append(ctx, "INBOX", m); err == nil {
			t.Error(`\Recent accepted as an APPEND flag`)
		}
		m = msg()
		m.Flags = []string{"bad flag"}
		if _, err := c.Append(ctx, "INBOX", m); err == nil {
			t.Error("a flag with a space accepted")
		}
		if err := c.Noop(ctx); err != nil {
			t.Fatalf("connection after refusals: %v", err)
		}
		if got := s.Messages(t, u, "INBOX"); len(got) != 0 {
			t.Errorf("refused APPENDs stored %+v", got)
		}
	})
}

// A message over the account's storage quota is refused with OVERQUOTA.
func TestAppendOverQuota(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUserWithQuota(t, test.Quota{StorageKiB: 64, Messages: 100})
		c := login(t, s, u, imapclient.Options{})
		ctx := ctxT(t)
		big := append(appendBody("big"), bytes.Repeat([]byte("x234567890123456789012345678901234567890123456789012345678901\r\n"), 4096)...)
		_, err := c.Append(ctx, "INBOX", imapclient.AppendMessage{Size: int64(len(big)), Body: bytes.NewReader(big)})
		var se *imapclient.StatusError
		if !errors.Is(err, imapclient.ErrNo) || !errors.As(err, &se) {
			t.Fatalf("APPEND over quota: %v, want NO", err)
		}
		// Dovecot gives the RFC 5530 code; Cyrus 3.6 only says so in words.
		if s.Kind == "dovecot" && !se.HasCode(imapwire.CodeOverQuota) {
			t.Errorf("Dovecot's over-quota NO lacks [OVERQUOTA]: %v", err)
		}
		if s.Kind == "cyrus" && !strings.Contains(strings.ToLower(se.Text), "quota") {
			t.Errorf("Cyrus's over-quota NO does not say so: %v", err)
		}
		if got := s.Messages(t, u, "INBOX"); len(got) != 0 {
			t.Errorf("over-quota APPEND stored %+v", got)
		}
		small := appendBody("small")
		if _, err := c.Append(ctx, "INBOX", imapclient.AppendMessage{Size: int64(len(small)), Body: bytes.NewReader(small)}); err != nil {
			t.Errorf("APPEND within quota after the refusal: %v", err)
		}
	})
}

// appendGenerator yields size bytes of CRLF-ended lines without holding
// them, so a 5 MB APPEND shows the literal is streamed.
type appendGenerator struct {
	left, line int64
	reads      int
}

func (g *appendGenerator) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	g.reads++
	n := int64(0)
	for n < int64(len(p)) && n < g.left {
		g.line++
		if g.line%64 == 63 {
			p[n] = '\r'
		} else if g.line%64 == 0 {
			p[n] = '\n'
		} else {
			p[n] = 'a' + byte(g.line%26)
		}
		n++
	}
	g.left -= n
	return int(n), nil
}

func TestAppendLargeStreamed(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		c := login(t, s, u, imapclient.Options{})
		header := "Subject: big\r\n\r\n"
		size := int64(5 << 20)
		gen := &appendGenerator{left: size - int64(len(header)), line: 0}
		uid, err := c.Append(ctxT(t), "INBOX", imapclient.AppendMessage{Size: size, Body: io.MultiReader(strings.NewReader(header), gen)})
		if err != nil {
			t.Fatal(err)
		}
		if gen.reads < 2 {
			t.Errorf("content read in %d calls: not streamed", gen.reads)
		}
		stored := s.Messages(t, u, "INBOX")
		if len(stored) != 1 || stored[0].UID != uid.UID || stored[0].Size != size {
			t.Fatalf("stored %+v, APPENDUID %+v", stored, uid)
		}
		want := new(bytes.Buffer)
		want.WriteString(header)
		io.Copy(want, &appendGenerator{left: size - int64(len(header))})
		if got := s.Body(t, u, "INBOX", uid.UID); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("stored body differs: %d bytes, want %d", len(got), want.Len())
		}
	})
}

// MULTIAPPEND stores all messages with one command, UIDs in order.
func TestMultiAppend(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		c := login(t, s, u, imapclient.Options{})
		var msgs []imapclient.AppendMessage
		var bodies [][]byte
		for i := range 3 {
			b := appendBody(fmt.Sprintf("multi %d", i))
			bodies = append(bodies, b)
			msgs = append(msgs, imapclient.AppendMessage{Flags: []string{imapclient.FlagFlagged}, Size: int64(len(b)), Body: bytes.NewReader(b)})
		}
		uids, err := c.MultiAppend(ctxT(t), "INBOX", msgs)
		if err != nil {
			t.Fatal(err)
		}
		stored := s.Messages(t, u, "INBOX")
		if len(uids) != 3 || len(stored) != 3 {
			t.Fatalf("APPENDUIDs %+v, stored %+v", uids, stored)
		}
		for i, m := range stored {
			if uids[i].UID != m.UID || !bytes.Equal(s.Body(t, u, "INBOX", m.UID), bodies[i]) || !slices.Equal(m.Flags, []string{`\Flagged`}) {
				t.Errorf("message %d: APPENDUID %+v, stored %+v", i, uids[i], m)
			}
		}
	})
}

// BINARY's literal8 carries a NUL byte, which a plain literal refuses.
func TestAppendBinary(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		c := login(t, s, u, imapclient.Options{})
		body := []byte("Subject: bin\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\nnul\x00here\r\n")
		uid, err := c.Append(ctxT(t), "INBOX", imapclient.AppendMessage{Size: int64(len(body)), Body: bytes.NewReader(body), Binary: true})
		if err != nil {
			t.Fatal(err)
		}
		stored := s.Messages(t, u, "INBOX")
		if len(stored) != 1 || stored[0].UID != uid.UID {
			t.Fatalf("stored %+v, APPENDUID %+v", stored, uid)
		}
		// Both servers store binary content re-encoded as base64 (RFC 3516
		// lets them), the NUL included.
		got := s.Body(t, u, "INBOX", uid.UID)
		if !bytes.Contains(got, []byte("Content-Transfer-Encoding: base64\r\n\r\nbnVsAGhlcmUNCg==")) {
			t.Errorf("stored %q", got)
		}
	})
}

// appendFakeServer starts a Client on one end of a pipe whose other end
// plays a server announcing caps; it returns the server's end.
func appendFakeServer(t *testing.T, caps string) (*imapclient.Client, net.Conn, *bufio.Reader) {
	t.Helper()
	client, server := net.Pipe()
	t.Cleanup(func() { server.Close() })
	go fmt.Fprintf(server, "* OK [CAPABILITY IMAP4rev1 %s] fake\r\n", caps)
	c, err := imapclient.New(ctxT(t), client, imapclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, server, bufio.NewReader(server)
}

// appendExpectLine reads one command line from the client.
func appendExpectLine(t *testing.T, conn net.Conn, r *bufio.Reader, want string) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := r.ReadString('\n')
	if err != nil || line != want {
		t.Fatalf("client sent %q, %v; want %q", line, err, want)
	}
}

// appendExpectSilence checks the client sends nothing for a while: it
// waits for the server's go-ahead.
func appendExpectSilence(t *testing.T, conn net.Conn, r *bufio.Reader) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if b, err := r.Peek(1); err == nil {
		t.Fatalf("client sent %q before the continuation", b)
	}
	conn.SetReadDeadline(time.Time{})
}

// Without LITERAL+ the literal is synchronizing: the content waits for
// "+", and a refusal instead of "+" sends no content at all. LITERAL-
// lets small literals go at once.
func TestAppendSynchronizingLiteral(t *testing.T) {
	t.Run("no-literal-plus", func(t *testing.T) {
		c, conn, r := appendFakeServer(t, "UIDPLUS")
		type result struct {
			uid imapclient.AppendUID
			err error
		}
		done := make(chan result, 1)
		go func() {
			uid, err := c.Append(ctxT(t), "Sent", imapclient.AppendMessage{Flags: []string{`\Seen`}, Size: 5, Body: strings.NewReader("hello")})
			done <- result{uid, err}
		}()
		appendExpectLine(t, conn, r, "T1 APPEND Sent (\\Seen) {5}\r\n")
		appendExpectSilence(t, conn, r)
		fmt.Fprintf(conn, "+ go ahead\r\n")
		appendExpectLine(t, conn, r, "hello\r\n")
		fmt.Fprintf(conn, "T1 OK [APPENDUID 7 42] done\r\n")
		if res := <-done; res.err != nil || res.uid != (imapclient.AppendUID{UIDValidity: 7, UID: 42}) {
			t.Fatalf("APPEND: %+v", res)
		}

		go func() {
			_, err := c.Append(ctxT(t), "Missing", imapclient.AppendMessage{Size: 5, Body: strings.NewReader("hello")})
			done <- result{err: err}
		}()
		appendExpectLine(t, conn, r, "T2 APPEND Missing {5}\r\n")
		fmt.Fprintf(conn, "T2 NO [TRYCREATE] no such mailbox\r\n")
		var se *imapclient.StatusError
		if res := <-done; !errors.As(res.err, &se) || !se.HasCode(imapwire.CodeTryCreate) {
			t.Fatalf("refused APPEND: %v", res.err)
		}
		go func() { done <- result{err: c.Noop(ctxT(t))} }()
		appendExpectLine(t, conn, r, "T3 NOOP\r\n") // not the content
		fmt.Fprintf(conn, "T3 OK done\r\n")
		if res := <-done; res.err != nil {
			t.Fatal(res.err)
		}
	})
	t.Run("literal-minus", func(t *testing.T) {
		c, conn, r := appendFakeServer(t, "LITERAL-")
		done := make(chan error, 1)
		go func() {
			_, err := c.Append(ctxT(t), "INBOX", imapclient.AppendMessage{Size: 5, Body: strings.NewReader("small")})
			done <- err
		}()
		appendExpectLine(t, conn, r, "T1 APPEND INBOX {5+}\r\n")
		appendExpectLine(t, conn, r, "small\r\n")
		fmt.Fprintf(conn, "T1 OK done\r\n")
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		big := strings.Repeat("x", 5000)
		go func() {
			_, err := c.Append(ctxT(t), "INBOX", imapclient.AppendMessage{Size: 5000, Body: strings.NewReader(big)})
			done <- err
		}()
		appendExpectLine(t, conn, r, "T2 APPEND INBOX {5000}\r\n")
		appendExpectSilence(t, conn, r)
		fmt.Fprintf(conn, "+ ok\r\n")
		appendExpectLine(t, conn, r, big+"\r\n")
		fmt.Fprintf(conn, "T2 OK done\r\n")
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// COPY and MOVE between mailboxes, nested and non-ASCII ones included:
// COPYUID pairs each source UID with the copy's UID, the bytes match, and
// MOVE expunges exactly the moved messages.
func TestCopyMove(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		nested, unicode := s.Personal("Parent", "Child"), s.Personal("Ünïcode ☃ & co")
		s.CreateMailbox(t, u, s.Personal("Parent"))
		s.CreateMailbox(t, u, nested)
		s.CreateMailbox(t, u, unicode)
		var msgs []test.Message
		for i := range 5 {
			msgs = append(msgs, test.Message{Body: appendBody(fmt.Sprintf("copy %d", i))})
		}
		uids := s.Seed(t, u, "INBOX", msgs...)
		c := login(t, s, u, imapclient.Options{})
		ctx := ctxT(t)
		if _, err := c.Select(ctx, "INBOX", false); err != nil {
			t.Fatal(err)
		}
		checkPairs := func(what, dest string, cu *imapclient.CopyUID, src []uint32) {
			t.Helper()
			if cu == nil {
				t.Fatalf("%s: no COPYUID", what)
			}
			if cu.UIDValidity != appendStatusUIDValidity(t, s, u, dest) {
				t.Errorf("%s: COPYUID UIDVALIDITY %d", what, cu.UIDValidity)
			}
			var gotSrc []uint32
			for from, to := range cu.Pairs() {
				gotSrc = append(gotSrc, from)
				if got, want := s.Body(t, u, dest, to), msgs[slices.Index(uids, from)].Body; !bytes.Equal(got, want) {
					t.Errorf("%s: UID %d -> %d holds %q, want %q", what, from, to, got, want)
				}
			}
			if !slices.Equal(gotSrc, src) {
				t.Errorf("%s: COPYUID sources %v, want %v", what, gotSrc, src)
			}
		}

		cu, err := c.UIDCopy(ctx, appendSet(uids[0], uids[2]), nested)
		if err != nil {
			t.Fatal(err)
		}
		checkPairs("UID COPY", nested, cu, []uint32{uids[0], uids[2]})
		cu, err = c.Copy(ctx, appendSet(2), unicode)
		if err != nil {
			t.Fatal(err)
		}
		checkPairs("COPY", unicode, cu, []uint32{uids[1]})
		if got := s.Messages(t, u, "INBOX"); len(got) != 5 {
			t.Errorf("COPY changed the source: %+v", got)
		}

		mv, err := c.UIDMove(ctx, appendSet(uids[3]), unicode)
		if err != nil {
			t.Fatal(err)
		}
		checkPairs("UID MOVE", unicode, mv.CopyUID, []uint32{uids[3]})
		if !slices.Equal(mv.Expunged.Seqs, []uint32{4}) {
			t.Errorf("UID MOVE expunged %+v, want sequence 4", mv.Expunged)
		}
		mv, err = c.Move(ctx, appendSet(1), nested)
		if err != nil {
			t.Fatal(err)
		}
		checkPairs("MOVE", nested, mv.CopyUID, []uint32{uids[0]})
		if !slices.Equal(mv.Expunged.Seqs, []uint32{1}) {
			t.Errorf("MOVE expunged %+v, want sequence 1", mv.Expunged)
		}
		var left []uint32
		for _, m := range s.Messages(t, u, "INBOX") {
			left = append(left, m.UID)
		}
		if want := []uint32{uids[1], uids[2], uids[4]}; !slices.Equal(left, want) {
			t.Errorf("INBOX after the moves holds %v, want %v", left, want)
		}
		if n := len(s.Messages(t, u, unicode)); n != 2 {
			t.Errorf("%q holds %d messages, want 2", unicode, n)
		}
		if m := c.Mailbox(); m == nil || m.Exists != 3 {
			t.Errorf("selected mailbox after the moves: %+v", m)
		}

		_, err = c.UIDCopy(ctx, appendSet(uids[1]), s.Personal("Missing"))
		var se *imapclient.StatusError
		if !errors.As(err, &se) || !se.HasCode(imapwire.CodeTryCreate) {
			t.Errorf("COPY to a missing mailbox: %v, want NO [TRYCREATE]", err)
		}
		if _, err := c.UIDMove(ctx, appendSet(uids[1]), "INBOX\r\nX LOGOUT"); !errors.As(err, new(*imapwire.ArgumentError)) {
			t.Errorf("hostile destination: %v", err)
		}
	})
}

// UID EXPUNGE removes exactly the UIDs named: a message someone else
// flagged \Deleted survives, and a named message without \Deleted stays.
func TestUIDExpungeOnlyNamed(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		deleted := []string{imapclient.FlagDeleted}
		uids := s.Seed(t, u, "INBOX",
			test.Message{Body: appendBody("theirs"), Flags: deleted},
			test.Message{Body: appendBody("ours"), Flags: deleted},
			test.Message{Body: appendBody("kept")})
		c := login(t, s, u, imapclient.Options{})
		ctx := ctxT(t)
		if _, err := c.Select(ctx, "INBOX", false); err != nil {
			t.Fatal(err)
		}
		x, err := c.UIDExpunge(ctx, appendSet(uids[1]))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(x.Seqs, []uint32{2}) {
			t.Errorf("UID EXPUNGE reported %+v, want sequence 2", x)
		}
		stored := s.Messages(t, u, "INBOX")
		if len(stored) != 2 || stored[0].UID != uids[0] || stored[1].UID != uids[2] || !slices.Equal(stored[0].Flags, deleted) {
			t.Fatalf("after UID EXPUNGE %d the server holds %+v", uids[1], stored)
		}
		// A named message that is not \Deleted is not removed.
		if x, err := c.UIDExpunge(ctx, appendSet(uids[2])); err != nil || len(x.Seqs) != 0 {
			t.Errorf("UID EXPUNGE of an unflagged message: %+v, %v", x, err)
		}
		if _, err := c.UIDExpunge(ctx, nil); err == nil {
			t.Error("UID EXPUNGE of no UIDs was sent")
		}
		if n := len(s.Messages(t, u, "INBOX")); n != 2 {
			t.Errorf("%d messages left, want 2", n)
		}
		// Read-only: refused before sending.
		if _, err := c.Select(ctx, "INBOX", true); err != nil {
			t.Fatal(err)
		}
		if _, err := c.UIDExpunge(ctx, appendSet(uids[0])); !errors.Is(err, imapclient.ErrReadOnly) {
			t.Errorf("UID EXPUNGE on EXAMINE: %v, want ErrReadOnly", err)
		}
		if _, err := c.Expunge(ctx); !errors.Is(err, imapclient.ErrReadOnly) {
			t.Errorf("EXPUNGE on EXAMINE: %v, want ErrReadOnly", err)
		}
		if n := len(s.Messages(t, u, "INBOX")); n != 2 {
			t.Errorf("%d messages left after read-only attempts, want 2", n)
		}
	})
}

// EXPUNGE removes every \Deleted message and reports their sequence
// numbers; with QRESYNC, UID EXPUNGE reports UIDs (VANISHED).
func TestExpungeSequenceNumbers(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		var msgs []test.Message
		for i := range 6 {
			m := test.Message{Body: appendBody(fmt.Sprintf("expunge %d", i))}
			if i == 1 || i == 2 || i == 4 {
				m.Flags = []string{imapclient.FlagDeleted}
			}
			msgs = append(msgs, m)
		}
		uids := s.Seed(t, u, "INBOX", msgs...)
		c := login(t, s, u, imapclient.Options{})
		ctx := ctxT(t)
		if _, err := c.Select(ctx, "INBOX", false); err != nil {
			t.Fatal(err)
		}
		x, err := c.Expunge(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Replay the reported sequence numbers on the UIDs we had.
		seqs := slices.Clone(uids)
		var removed []uint32
		for _, n := range x.Seqs {
			if n == 0 || int(n) > len(seqs) {
				t.Fatalf("EXPUNGE reported %v", x.Seqs)
			}
			removed = append(removed, seqs[n-1])
			seqs = slices.Delete(seqs, int(n-1), int(n))
		}
		slices.Sort(removed)
		if want := []uint32{uids[1], uids[2], uids[4]}; !slices.Equal(removed, want) {
			t.Errorf("EXPUNGE reported %v, removing %v; want %v", x.Seqs, removed, want)
		}
		var left []uint32
		for _, m := range s.Messages(t, u, "INBOX") {
			left = append(left, m.UID)
		}
		if !slices.Equal(left, seqs) {
			t.Errorf("server holds %v, want %v", left, seqs)
		}

		// With QRESYNC enabled the expunges come as VANISHED UIDs.
		more := s.Seed(t, u, "INBOX", test.Message{Body: appendBody("q"), Flags: []string{imapclient.FlagDeleted}})
		q := login(t, s, u, imapclient.Options{})
		if _, err := q.Enable(ctx, "QRESYNC"); err != nil {
			t.Fatal(err)
		}
		if _, err := q.Select(ctx, "INBOX", false); err != nil {
			t.Fatal(err)
		}
		x, err = q.UIDExpunge(ctx, appendSet(more[0]))
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Collect(x.UIDs.All()); !slices.Equal(got, more) || len(x.Seqs) != 0 {
			t.Errorf("UID EXPUNGE with QRESYNC reported %+v, want VANISHED %v", x, more)
		}
	})
}

// IDLE delivers a new message's EXISTS as it arrives; DONE ends it and
// the connection goes on; commands from other goroutines wait for DONE;
// a cancelled context ends IDLE cleanly.
func TestIdle(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		exists := make(chan uint32, 16)
		c := login(t, s, u, imapclient.Options{Updates: func(upd imapclient.Update) {
			if e, ok := upd.(imapclient.ExistsUpdate); ok {
				exists <- e.N
			}
		}})
		ctx := ctxT(t)
		if _, err := c.Select(ctx, "INBOX", false); err != nil {
			t.Fatal(err)
		}
		idle, err := c.Idle(ctx)
		if err != nil {
			t.Fatal(err)
		}
		noop := make(chan error, 1)
		go func() { noop <- c.Noop(ctx) }()
		s.Seed(t, u, "INBOX", test.Message{Body: appendBody("while idling")})
		// Dovecot pushes the change at once. Our Cyrus runs without its
		// idled daemon, so it only polls (imapidlepoll, 60 s by default):
		// there the EXISTS comes when DONE arrives, before IDLE's tagged OK.
		gotExists := func(wait time.Duration) bool {
			deadline := time.Now().Add(wait)
			for {
				select {
				case n := <-exists: // SELECT's own EXISTS 0 comes first
					if n == 1 {
						return true
					}
					continue
				default:
				}
				if time.Now().After(deadline) {
					return false
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		if s.Kind == "dovecot" && !gotExists(20*time.Second) {
			t.Fatal("no EXISTS 1 while idling")
		}
		select {
		case err := <-noop:
			t.Fatalf("NOOP ran during IDLE: %v", err)
		default:
		}
		if err := idle.Done(ctx); err != nil {
			t.Fatalf("DONE: %v", err)
		}
		if s.Kind == "cyrus" && !gotExists(0) {
			t.Fatal("no EXISTS 1 before IDLE's tagged OK")
		}
		if err := idle.Done(ctx); err != nil {
			t.Errorf("second Done: %v", err)
		}
		if err := <-noop; err != nil {
			t.Fatalf("NOOP after IDLE: %v", err)
		}

		idleCtx, cancel := context.WithCancel(ctx)
		idle, err = c.Idle(idleCtx)
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		select {
		case <-idle.Finished():
		case <-time.After(10 * time.Second):
			t.Fatal("IDLE did not end when its context did")
		}
		if err := idle.Done(ctx); err != nil {
			t.Errorf("IDLE ended by its context: %v", err)
		}
		if m, err := c.Select(ctx, "INBOX", false); err != nil || m.Exists != 1 {
			t.Fatalf("SELECT after a cancelled IDLE: %+v, %v", m, err)
		}
	})
}

// Partial reads a range of a section without setting \Seen; Recent counts
// \Recent messages; Xatom sends commands by name with typed arguments.
func TestPartialRecentXatom(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		body := appendBody("partial")
		s.Seed(t, u, "INBOX", test.Message{Body: body})
		c := login(t, s, u, imapclient.Options{})
		ctx := ctxT(t)
		if _, err := c.Recent(ctx); err == nil {
			t.Error("Recent without a selected mailbox")
		}
		if _, err := c.Select(ctx, "INBOX", false); err != nil {
			t.Fatal(err)
		}
		got, err := c.Partial(ctx, 1, "", 5, 10)
		if err != nil || !bytes.Equal(got, body[5:15]) {
			t.Errorf("Partial whole: %q, %v; want %q", got, err, body[5:15])
		}
		text := body[bytes.Index(body, []byte("\r\n\r\n"))+4:]
		got, err = c.Partial(ctx, 1, "TEXT", 0, 1000)
		if err != nil || !bytes.Equal(got, text) {
			t.Errorf("Partial TEXT: %q, %v; want %q", got, err, text)
		}
		if got, err := c.Partial(ctx, 1, "] X", 0, 1); err == nil {
			t.Errorf("hostile part accepted: %q", got)
		}
		if m := s.Messages(t, u, "INBOX"); len(m) != 1 || slices.Contains(m[0].Flags, imapclient.FlagSeen) {
			t.Errorf("Partial changed the message: %+v", m)
		}

		n, err := c.Recent(ctx)
		if err != nil || n != 1 {
			t.Errorf("Recent: %d, %v; want 1", n, err)
		}
		s.Seed(t, u, "INBOX", test.Message{Body: appendBody("new")})
		if n, err := c.Recent(ctx); err != nil || n != 2 {
			t.Errorf("Recent after a new message: %d, %v; want 2", n, err)
		}

		for _, cmd := range []string{"NOOP", "CHECK"} {
			if resp, err := c.Xatom(ctx, cmd); err != nil || len(resp) != 0 {
				t.Errorf("Xatom %s: %v, %v", cmd, resp, err)
			}
		}
		resp, err := c.Xatom(ctx, "ID", imapwire.Value{Kind: imapwire.KindList, List: []imapwire.Value{
			{Kind: imapwire.KindString, Text: "name"}, {Kind: imapwire.KindString, Text: "imapfs test"},
		}})
		if err != nil || len(resp) != 1 || len(resp[0].List) != 1 {
			t.Fatalf("Xatom ID: %v, %v", resp, err)
		}
		if id := resp[0].List[0]; id.Kind != imapwire.KindList || len(id.List)%2 != 0 {
			t.Errorf("ID response %v", id)
		}
		resp, err = c.Xatom(ctx, "NAMESPACE")
		if err != nil || len(resp) != 1 || len(resp[0].List) != 3 || resp[0].List[0].Kind != imapwire.KindList {
			t.Errorf("Xatom NAMESPACE: %v, %v", resp, err)
		}
		if _, err := c.Xatom(ctx, "UID", imapwire.Value{Kind: imapwire.KindAtom, Text: "FETCH"},
			imapwire.Value{Kind: imapwire.KindAtom, Text: "1:*"}, imapwire.Value{Kind: imapwire.KindAtom, Text: "FLAGS"}); err != nil {
			t.Errorf("Xatom UID FETCH 1:* FLAGS: %v", err)
		}
		for _, bad := range []imapwire.Value{
			{Kind: imapwire.KindAtom, Text: "INBOX\r\nX DELETE INBOX"},
			{Kind: imapwire.KindString, Text: "nul\x00"},
		} {
			if _, err := c.Xatom(ctx, "NOOP", bad); !errors.As(err, new(*imapwire.ArgumentError)) {
				t.Errorf("Xatom argument %q: %v", bad.Text, err)
			}
		}
		if _, err := c.Xatom(ctx, "NOOP\r\nX LOGOUT"); !errors.As(err, new(*imapwire.ArgumentError)) {
			t.Errorf("hostile command name: %v", err)
		}
		if err := c.Noop(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
