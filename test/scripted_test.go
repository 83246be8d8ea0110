package test

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// scriptedExchange sends lines to a scripted server in plaintext and
// returns everything it answers up to the tagged response of the last.
func scriptedExchange(t *testing.T, s *Scripted, lines ...string) []string {
	t.Helper()
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	var got []string
	read := func(until string) {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("after %q: %v", got, err)
			}
			got = append(got, strings.TrimSuffix(line, "\r\n"))
			if strings.HasPrefix(line, until) {
				return
			}
		}
	}
	read("* ")
	for _, l := range lines {
		conn.Write([]byte(l + "\r\n"))
		read(strings.Fields(l)[0] + " ")
	}
	return got
}

// The variations change exactly the bytes they say.
func TestScriptedVariations(t *testing.T) {
	msg := Message{Body: []byte("Subject: s\r\n\r\nbody\r\n"), Date: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), Flags: []string{`\Seen`}}
	login := "a LOGIN scripted scripted-secret"
	for _, tc := range []struct {
		name  string
		v     Variation
		lines []string
		want  []string // lines that must be among the answers
	}{
		{"uid-last", Variation{FetchOrder: "uid-last"}, []string{login, "b SELECT INBOX", "c UID FETCH 1 (BODY.PEEK[]<2.5>)"},
			[]string{"* 1 FETCH (BODY[]<2> {5}", "bject UID 1)", "c OK FETCH completed."}},
		{"reverse", Variation{FetchOrder: "reverse"}, []string{login, "b EXAMINE INBOX", "c UID FETCH 1 (UID FLAGS RFC822.SIZE)"},
			[]string{`* 1 FETCH (RFC822.SIZE 20 FLAGS (\Seen) UID 1)`, "b OK [READ-ONLY] EXAMINE completed."}},
		{"lower-case", Variation{LowerCase: true, Keywords: []string{"a[b"}}, []string{login, "b SELECT INBOX", "c FETCH 1 (FLAGS INTERNALDATE)"},
			[]string{`* ok [permanentflags (\Answered \Flagged \Deleted \Seen \Draft a[b \*)] Flags permitted.`, `* 1 fetch (flags (\Seen a[b) internaldate "02-Jan-2024 03:04:05 +0000")`, "c ok FETCH completed."}},
		{"preauth", Variation{Greeting: "* PREAUTH Ready."}, []string{"a LIST \"\" *"},
			[]string{"* PREAUTH Ready.", `* LIST () "/" "INBOX"`}},
		{"no capability at login", Variation{LoginWithoutCapability: true}, []string{login}, []string{"a OK LOGIN completed."}},
		{"rev2", Variation{Capabilities: []string{"IMAP4rev2"}}, []string{login, "b SELECT INBOX", "c UID SEARCH ALL", "d UNSELECT"},
			[]string{`* LIST () "/" "INBOX"`, `* ESEARCH (TAG "c") UID ALL 1`, "d OK UNSELECT completed."}},
		{"rev1 and rev2", Variation{Capabilities: []string{"IMAP4rev1", "IMAP4rev2", "ENABLE"}}, []string{login, "b SELECT INBOX", "c UID SEARCH ALL", "d ENABLE IMAP4rev2", "e UID SEARCH ALL"},
			[]string{"* SEARCH 1", "* ENABLED IMAP4rev2", `* ESEARCH (TAG "e") UID ALL 1`}},
		{"no UNSELECT", Variation{Capabilities: []string{"IMAP4rev1"}, RefuseDeleteSelected: true}, []string{login, "b CREATE X", "c SELECT X", "d UNSELECT", "e DELETE X", `f EXAMINE ""`, "g DELETE X"},
			[]string{"d BAD Unknown command", "e NO Cannot delete currently-open folder", "f NO [NONEXISTENT] No such mailbox", "g OK DELETE completed."}},
		{"no LITERAL+", Variation{Capabilities: []string{"IMAP4rev1"}}, []string{login, "b APPEND INBOX {3+}\r\nabc", "c NOOP"},
			[]string{"b BAD Non-synchronizing literal without LITERAL+"}},
		{"refuse UID EXPUNGE", Variation{RefuseUIDExpunge: true}, []string{login, "b SELECT INBOX", "c UID STORE 1 +FLAGS.SILENT (\\Deleted)", "d UID EXPUNGE 1", "e FETCH 1 (FLAGS)"},
			[]string{"d NO [SERVERBUG] Expunge failed", `* 1 FETCH (FLAGS (\Deleted \Seen))`}},
		{"chatter", Variation{Chatter: true}, []string{login, "b NOOP"},
			[]string{"* OK [XSCRIPTED-NOTE 1 (a b)] Unknown code with arguments.", `* XSCRIPTED-CHATTER 17 ("x" y) z`, `b OK [XSCRIPTED-DONE 42 "arg"]   NOOP   completed,  spaced   out. `}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := StartScripted(t, tc.v)
			s.Seed(t, "INBOX", msg)
			got := scriptedExchange(t, s, tc.lines...)
			for _, w := range tc.want {
				if !strings.Contains("\n"+strings.Join(got, "\n")+"\n", "\n"+w+"\n") {
					t.Errorf("no %q in\n%s", w, strings.Join(got, "\n"))
				}
			}
		})
	}
}

// DropAfterCopy makes the copy and closes the connection unanswered.
func TestScriptedDropAfterCopy(t *testing.T) {
	s := StartScripted(t, Variation{DropAfterCopy: true})
	s.Seed(t, "INBOX", Message{Body: []byte("Subject: s\r\n\r\nbody\r\n")})
	s.CreateMailbox(t, "X")
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	conn.Write([]byte("a LOGIN scripted scripted-secret\r\nb SELECT INBOX\r\nc UID COPY 1 X\r\n"))
	out, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "b OK") || strings.Contains(string(out), "c ") {
		t.Errorf("answers:\n%s", out)
	}
	if got := s.Messages(t, "X"); len(got) != 1 {
		t.Errorf("X holds %+v, want the copy", got)
	}
}
