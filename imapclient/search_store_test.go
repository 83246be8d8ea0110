package imapclient_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"imapfs/imapclient"
	"imapfs/imapclient/imapwire"
	"imapfs/test"
)

// searchMessage builds a message with the given headers.
func searchMessage(from, subject, date string, extra ...string) []byte {
	h := fmt.Sprintf("From: %s\r\nTo: bob@example.com\r\nSubject: %s\r\nDate: %s\r\n", from, subject, date)
	for _, e := range extra {
		h += e + "\r\n"
	}
	return []byte(h + "\r\nbody of " + subject + "\r\n")
}

func searchMustParse(t *testing.T, text string) *imapclient.SearchCriteria {
	t.Helper()
	sc, err := imapclient.ParseSearchCriteria(text)
	if err != nil {
		t.Fatalf("ParseSearchCriteria(%q): %v", text, err)
	}
	return sc
}

func TestSearchCriteriaParse(t *testing.T) {
	good := map[string]string{
		`FROM "alice" SINCE 1-Jan-2025 UNSEEN`:     `FROM "alice" SINCE 1-Jan-2025 UNSEEN`,
		`from alice since 01-jan-2025`:             `FROM "alice" SINCE 1-Jan-2025`,
		`OR SUBJECT café (LARGER 1000 NOT SEEN)`:   `OR SUBJECT "café" (LARGER 1000 NOT SEEN)`,
		`HEADER X-Tag "a \"b\" \\c"`:               `HEADER "X-Tag" "a \"b\" \\c"`,
		`1:3,7 UID 5:* KEYWORD $Label1`:            `1:3,7 UID 5:* KEYWORD $Label1`,
		`SUBJECT a{5}`:                             `SUBJECT "a{5}"`,
		`MODSEQ "/flags/\\draft" all 620162338`:    `MODSEQ "/flags/\\draft" all 620162338`,
		`((FLAGGED) OR TO x CC "y z")`:             `((FLAGGED) OR TO "x" CC "y z")`,
		`  ALL  `:                                  `ALL`,
		`NOT FROM "" SENTBEFORE 31-Dec-2024`:       `NOT FROM "" SENTBEFORE 31-Dec-2024`,
		`SMALLER 10 MODSEQ 5 YOUNGER 3600 DELETED`: `SMALLER 10 MODSEQ 5 YOUNGER 3600 DELETED`,
	}
	for in, want := range good {
		sc, err := imapclient.ParseSearchCriteria(in)
		if err != nil {
			t.Errorf("%q refused: %v", in, err)
			continue
		}
		if sc.String() != want {
			t.Errorf("%q gives %q, want %q", in, sc.String(), want)
		}
	}
	bad := []string{
		"", "   ", "ALL\r\nX1 DELETE INBOX", "ALL\n", "FROM a\x00b", "SUBJECT \"a\rb\"",
		`FROM "alice`, `FROM alice"`, "(ALL", "ALL)", "()", ")(", `FROM "a\b"`,
		"NOSUCHKEY", "FROM", "OR ALL", "NOT", `"alice"`, "{5}", "SINCE 2025-01-01",
		"SINCE 32-Jan-2025", "LARGER big", "LARGER -1", `LARGER "10"`, "UID 0", "UID a:b",
		"KEYWORD \\Seen", "MODSEQ x", `MODSEQ "/flags/\\seen" mine 5`, "ALL \t", "\xff",
		strings.Repeat("NOT ", 100) + "ALL", strings.Repeat("(", 100) + "ALL" + strings.Repeat(")", 100),
	}
	for _, in := range bad {
		if sc, err := imapclient.ParseSearchCriteria(in); err == nil {
			t.Errorf("%q accepted as %q", in, sc.String())
		}
	}
}

// searchFixture seeds u's INBOX after one expunged message, so that UIDs
// and sequence numbers differ by one, and returns the UIDs.
func searchFixture(t *testing.T, s *test.Server, u test.User) []uint32 {
	s.Seed(t, u, "INBOX", test.Message{Body: []byte("Subject: gone\r\n\r\ngone\r\n")})
	raw := s.Session(t, u)
	for _, cmd := range []string{"SELECT INBOX", `STORE 1 +FLAGS.SILENT (\Deleted)`, "EXPUNGE", "LOGOUT"} {
		if _, _, err := raw.Run(cmd); err != nil {
			t.Fatal(err)
		}
	}
	return s.Seed(t, u, "INBOX",
		test.Message{Body: searchMessage("Alice <alice@example.com>", "lunch plans", "Mon, 6 Jan 2025 10:00:00 +0000"),
			Date: time.Date(2025, 1, 6, 10, 0, 0, 0, time.UTC), Flags: []string{`\Seen`}},
		test.Message{Body: searchMessage("Carol <carol@example.com>", "=?UTF-8?Q?caf=C3=A9_au_lait?=", "Tue, 7 Jan 2025 10:00:00 +0000"),
			Date: time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC), Flags: []string{`\Flagged`, "$Label1"}},
		test.Message{Body: searchMessage("Alice <alice@example.com>", "report", "Wed, 5 Feb 2025 10:00:00 +0000"),
			Date: time.Date(2025, 2, 5, 10, 0, 0, 0, time.UTC)},
		test.Message{Body: searchMessage("Dave <dave@example.com>", "quote \"this\"", "Thu, 6 Mar 2025 10:00:00 +0000"),
			Date: time.Date(2025, 3, 6, 10, 0, 0, 0, time.UTC), Flags: []string{`\Seen`, `\Answered`}},
	)
}

func TestSearch(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		uids := searchFixture(t, s, u)
		if uids[0] != 2 {
			t.Fatalf("fixture UIDs %v", uids)
		}
		c := login(t, s, u, imapclient.Options{})
		ctx := ctxT(t)
		if _, err := c.Select(ctx, "INBOX", true); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			criteria string
			want     []int // indexes into uids
		}{
			{`FROM "alice"`, []int{0, 2}},
			{`from alice subject report`, []int{2}},
			{`SUBJECT café`, []int{1}},
			{`SUBJECT "CAFÉ AU"`, []int{1}},
			{`SUBJECT "quote \"this\""`, []int{3}},
			{`UNSEEN`, []int{1, 2}},
			{`FLAGGED KEYWORD $Label1`, []int{1}},
			{`SINCE 1-Feb-2025`, []int{2, 3}},
			{`BEFORE 7-Jan-2025`, []int{0}},
			{`SENTSINCE 1-Mar-2025`, []int{3}},
			{`OR ANSWERED FLAGGED`, []int{1, 3}},
			{`NOT (FROM alice OR SEEN FLAGGED)`, []int{1, 2, 3}},
			{`NOT (OR FROM alice FLAGGED)`, []int{3}},
			{`(FROM alice NOT SEEN) ALL`, []int{2}},
			{`FROM nobody`, nil},
			{fmt.Sprintf("UID %d:*", uids[2]), []int{2, 3}},
			{`2:3`, []int{1, 2}},
		}
		for _, tc := range cases {
			var want []uint32
			for _, i := range tc.want {
				want = append(want, uids[i])
			}
			got, err := c.UIDSearch(ctx, searchMustParse(t, tc.criteria))
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("UID SEARCH %s: %v, %v; want UIDs %v", tc.criteria, got, err, want)
			}
			var wantSeq []uint32
			for _, i := range tc.want {
				wantSeq = append(wantSeq, uint32(i+1))
			}
			got, err = c.Search(ctx, searchMustParse(t, tc.criteria))
			if err != nil || !slices.Equal(got, wantSeq) {
				t.Errorf("SEARCH %s: %v, %v; want sequence numbers %v", tc.criteria, got, err, wantSeq)
			}
		}

		// ESEARCH: MIN MAX COUNT ALL, in UIDs and sequence numbers.
		ret := imapclient.SearchReturn{Min: true, Max: true, Count: true, All: true}
		d, err := c.UIDSearchExtended(ctx, searchMustParse(t, "NOT FLAGGED"), ret)
		wantAll := imapclient.SeqSet{{Start: uids[0], Stop: uids[0]}, {Start: uids[2], Stop: uids[3]}}
		if err != nil || !d.UID || d.Min != uids[0] || d.Max != uids[3] || d.Count != 3 || d.All.Compact().String() != wantAll.String() {
			t.Errorf("UID SEARCH RETURN: %+v, %v", d, err)
		}
		d, err = c.SearchExtended(ctx, searchMustParse(t, "FROM alice"), imapclient.SearchReturn{Count: true, Max: true})
		if err != nil || d.UID || d.Count != 2 || d.Max != 3 || d.Min != 0 || d.All != nil {
			t.Errorf("SEARCH RETURN (COUNT MAX): %+v, %v", d, err)
		}
		d, err = c.UIDSearchExtended(ctx, searchMustParse(t, "FROM nobody"), ret)
		if err != nil || d.Count != 0 || d.Min != 0 || d.All != nil {
			t.Errorf("ESEARCH without a match: %+v, %v", d, err)
		}

		// A charset the server lacks: Dovecot says NO [BADCHARSET], Cyrus
		// a BAD without a code.
		sc := searchMustParse(t, "FROM alice")
		sc.Charset = "X-NO-SUCH-CHARSET"
		_, err = c.UIDSearch(ctx, sc)
		var se *imapclient.StatusError
		switch {
		case !errors.As(err, &se):
			t.Errorf("unknown charset: %v", err)
		case s.Kind == "dovecot" && (!errors.Is(err, imapclient.ErrNo) || !se.HasCode(imapwire.CodeBadCharset)):
			t.Errorf("unknown charset: %v, want NO [BADCHARSET]", err)
		case s.Kind == "cyrus" && !errors.Is(err, imapclient.ErrBad):
			t.Errorf("unknown charset: %v, want BAD", err)
		}
		sc = searchMustParse(t, "SUBJECT café")
		sc.Charset = "US-ASCII"
		if _, err := c.UIDSearch(ctx, sc); err == nil || errors.As(err, new(*imapclient.StatusError)) {
			t.Errorf("non-ASCII criteria with US-ASCII: %v, want a refusal before sending", err)
		}
		sc.Charset = "UTF-8\r\nX DELETE INBOX"
		if _, err := c.UIDSearch(ctx, sc); err == nil {
			t.Error("a hostile charset was sent")
		}
		if _, err := c.UIDSearch(ctx, &imapclient.SearchCriteria{}); err == nil {
			t.Error("empty criteria were sent")
		}
		if _, err := c.UIDSearch(ctx, nil); err == nil {
			t.Error("nil criteria were sent")
		}
		if err := c.Noop(ctx); err != nil {
			t.Fatalf("connection unusable: %v", err)
		}
		if got := s.Messages(t, u, "INBOX"); len(got) != 4 || slices.Contains(got[2].Flags, `\Seen`) {
			t.Errorf("searching changed the mailbox: %+v", got)
		}
	})
}

// Criteria a user typed cannot smuggle anything onto the wire: they are
// refused before sending, or sent as the strings they are.
func TestSearchInjection(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		s.Seed(t, u, "INBOX", test.Message{Body: searchMessage("a@example.com", "x", "Mon, 6 Jan 2025 10:00:00 +0000")})
		c := login(t, s, u, imapclient.Options{})
		ctx := ctxT(t)
		if _, err := c.Select(ctx, "INBOX", false); err != nil {
			t.Fatal(err)
		}
		for _, in := range []string{
			"ALL\r\nX1 DELETE INBOX", "ALL\nX1 DELETE INBOX", `FROM "x" ) X1 DELETE INBOX (`,
			`FROM "x\r\nX1 DELETE INBOX"`, `ALL" X1 DELETE INBOX`,
		} {
			if _, err := imapclient.ParseSearchCriteria(in); err == nil {
				t.Errorf("%q accepted", in)
			}
		}
		// Syntax in a string position stays a string.
		for _, in := range []string{`FROM {5}`, `FROM {20+}`, `SUBJECT X1`, `TEXT "DELETE INBOX"`, `FROM x)`} {
			sc, err := imapclient.ParseSearchCriteria(in)
			if in == `FROM x)` {
				if err == nil {
					t.Errorf("%q accepted", in)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%q: %v", in, err)
			}
			if got, err := c.UIDSearch(ctx, sc); err != nil || len(got) != 0 {
				t.Errorf("%q: %v, %v", in, got, err)
			}
		}
		mbox, err := c.Select(ctx, "INBOX", false)
		if err != nil || mbox.Exists != 1 {
			t.Fatalf("INBOX after the attempts: %+v, %v", mbox, err)
		}
		// On the wire: non-ASCII goes as a literal under CHARSET UTF-8,
		// ASCII without a CHARSET, strings quoted.
		var trace strings.Builder
		var mu sync.Mutex
		traced := login(t, s, u, imapclient.Options{Logger: slogTo(&lockedWriter{w: &trace, mu: &mu}), Debug: 2})
		if _, err := traced.Select(ctx, "INBOX", true); err != nil {
			t.Fatal(err)
		}
		for _, in := range []string{`SUBJECT "café"`, `FROM x SUBJECT "a \"b\""`} {
			if _, err := traced.UIDSearch(ctx, searchMustParse(t, in)); err != nil {
				t.Fatalf("%s: %v", in, err)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for _, want := range []string{`UID SEARCH CHARSET UTF-8 SUBJECT {5`, `UID SEARCH FROM x SUBJECT \"a \\\"b\\\"\"`} {
			if !strings.Contains(trace.String(), want) {
				t.Errorf("trace lacks %s:\n%s", want, trace.String())
			}
		}
	})
}

// sortFixture seeds messages whose orders by date, size, subject, sender
// and arrival all differ.
func sortFixture(t *testing.T, s *test.Server, u test.User) []uint32 {
	return s.Seed(t, u, "INBOX",
		test.Message{Body: append(searchMessage("Zed <zed@example.com>", "beta", "Wed, 5 Feb 2025 10:00:00 +0000"), strings.Repeat("x", 300)...),
			Date: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)},
		test.Message{Body: searchMessage("Amy <amy@example.com>", "Re: gamma", "Mon, 6 Jan 2025 10:00:00 +0000"),
			Date: time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC)},
		test.Message{Body: append(searchMessage("Mia <mia@example.com>", "alpha", "Fri, 7 Mar 2025 10:00:00 +0000"), strings.Repeat("x", 900)...),
			Date: time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)},
	)
}

func TestSort(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		uids := sortFixture(t, s, u)
		c := login(t, s, u, imapclient.Options{})
		ctx := ctxT(t)
		if _, err := c.Select(ctx, "INBOX", true); err != nil {
			t.Fatal(err)
		}
		all := searchMustParse(t, "ALL")
		cases := []struct {
			keys []imapclient.SortCriterion
			want []int
		}{
			{[]imapclient.SortCriterion{{Key: imapclient.SortDate}}, []int{1, 0, 2}},
			{[]imapclient.SortCriterion{{Key: imapclient.SortDate, Reverse: true}}, []int{2, 0, 1}},
			{[]imapclient.SortCriterion{{Key: imapclient.SortSubject}}, []int{2, 0, 1}}, // "Re: " is ignored
			{[]imapclient.SortCriterion{{Key: imapclient.SortFrom}}, []int{1, 2, 0}},
			{[]imapclient.SortCriterion{{Key: imapclient.SortSize, Reverse: true}}, []int{2, 0, 1}},
			{[]imapclient.SortCriterion{{Key: imapclient.SortArrival, Reverse: true}}, []int{2, 1, 0}},
			{[]imapclient.SortCriterion{{Key: imapclient.SortTo}, {Key: imapclient.SortArrival}}, []int{0, 1, 2}},
			{[]imapclient.SortCriterion{{Key: "displayfrom"}}, []int{1, 2, 0}},
		}
		for _, tc := range cases {
			var want, wantSeq []uint32
			for _, i := range tc.want {
				want = append(want, uids[i])
				wantSeq = append(wantSeq, uint32(i+1))
			}
			got, err := c.UIDSort(ctx, tc.keys, all)
			if errors.Is(err, imapclient.ErrNotSupported) {
				t.Logf("%v: %v", tc.keys, err)
				continue
			}
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("UID SORT %v: %v, %v; want %v", tc.keys, got, err, want)
			}
			if got, err := c.Sort(ctx, tc.keys, all); err != nil || !slices.Equal(got, wantSeq) {
				t.Errorf("SORT %v: %v, %v; want %v", tc.keys, got, err, wantSeq)
			}
		}
		// Search criteria apply, non-ASCII included.
		got, err := c.UIDSort(ctx, []imapclient.SortCriterion{{Key: imapclient.SortSize}}, searchMustParse(t, "NOT SUBJECT gamma"))
		if err != nil || !slices.Equal(got, []uint32{uids[0], uids[2]}) {
			t.Errorf("UID SORT with criteria: %v, %v", got, err)
		}
		if got, err := c.UIDSort(ctx, []imapclient.SortCriterion{{Key: imapclient.SortSize}}, searchMustParse(t, "FROM zoë")); err != nil || len(got) != 0 {
			t.Errorf("UID SORT with a non-ASCII string: %v, %v", got, err)
		}
		if _, err := c.UIDSort(ctx, []imapclient.SortCriterion{{Key: "SIZE) (ALL"}}, all); err == nil || errors.Is(err, imapclient.ErrBad) {
			t.Errorf("a hostile sort key: %v", err)
		}
		if _, err := c.UIDSort(ctx, nil, all); err == nil {
			t.Error("SORT without keys was sent")
		}
	})
}

func TestThread(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		// a <- b <- c, a <- d, and e alone.
		uids := s.Seed(t, u, "INBOX",
			test.Message{Body: searchMessage("amy@example.com", "plan", "Mon, 6 Jan 2025 10:00:00 +0000", "Message-ID: <a@example.com>")},
			test.Message{Body: searchMessage("bob@example.com", "Re: plan", "Mon, 6 Jan 2025 11:00:00 +0000",
				"Message-ID: <b@example.com>", "In-Reply-To: <a@example.com>", "References: <a@example.com>")},
			test.Message{Body: searchMessage("amy@example.com", "Re: plan", "Mon, 6 Jan 2025 12:00:00 +0000",
				"Message-ID: <c@example.com>", "In-Reply-To: <b@example.com>", "References: <a@example.com> <b@example.com>")},
			test.Message{Body: searchMessage("cid@example.com", "Re: plan", "Mon, 6 Jan 2025 13:00:00 +0000",
				"Message-ID: <d@example.com>", "In-Reply-To: <a@example.com>", "References: <a@example.com>")},
			test.Message{Body: searchMessage("eve@example.com", "other", "Tue, 7 Jan 2025 10:00:00 +0000", "Message-ID: <e@example.com>")},
		)
		c := login(t, s, u, imapclient.Options{})
		ctx := ctxT(t)
		if _, err := c.Select(ctx, "INBOX", true); err != nil {
			t.Fatal(err)
		}
		leaf := func(n uint32) imapclient.Thread { return imapclient.Thread{Num: n} }
		node := func(n uint32, children ...imapclient.Thread) imapclient.Thread {
			return imapclient.Thread{Num: n, Children: children}
		}
		wantRefs := []imapclient.Thread{
			node(uids[0], node(uids[1], leaf(uids[2])), leaf(uids[3])),
			leaf(uids[4]),
		}
		got, err := c.UIDThread(ctx, imapclient.ThreadReferences, searchMustParse(t, "ALL"))
		if err != nil || fmt.Sprint(got) != fmt.Sprint(wantRefs) {
			t.Errorf("UID THREAD REFERENCES: %v, %v; want %v", got, err, wantRefs)
		}
		wantSeq := []imapclient.Thread{node(1, node(2, leaf(3)), leaf(4)), leaf(5)}
		if got, err := c.Thread(ctx, imapclient.ThreadReferences, searchMustParse(t, "ALL")); err != nil || fmt.Sprint(got) != fmt.Sprint(wantSeq) {
			t.Errorf("THREAD REFERENCES: %v, %v; want %v", got, err, wantSeq)
		}
		// ORDEREDSUBJECT: the first message of a subject is the parent of the rest.
		wantSubj := []imapclient.Thread{node(uids[0], leaf(uids[1]), leaf(uids[2]), leaf(uids[3])), leaf(uids[4])}
		if got, err := c.UIDThread(ctx, imapclient.ThreadOrderedSubject, searchMustParse(t, "ALL")); err != nil || fmt.Sprint(got) != fmt.Sprint(wantSubj) {
			t.Errorf("UID THREAD ORDEREDSUBJECT: %v, %v; want %v", got, err, wantSubj)
		}
		// Only matching messages: with b left out, both servers hang c
		// directly under a.
		want := []imapclient.Thread{node(uids[0], leaf(uids[2]), leaf(uids[3])), leaf(uids[4])}
		if got, err := c.UIDThread(ctx, imapclient.ThreadReferences, searchMustParse(t, "NOT FROM bob")); err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("UID THREAD with criteria: %v, %v; want %v", got, err, want)
		}
		if c.Has("THREAD=REFS") {
			if got, err := c.UIDThread(ctx, imapclient.ThreadRefs, searchMustParse(t, "ALL")); err != nil || len(got) != 2 {
				t.Errorf("UID THREAD REFS: %v, %v", got, err)
			}
		}
		if _, err := c.UIDThread(ctx, "NOSUCH", searchMustParse(t, "ALL")); !errors.Is(err, imapclient.ErrNotSupported) {
			t.Errorf("unknown algorithm: %v", err)
		}
		if _, err := c.UIDThread(ctx, "REFS (x", searchMustParse(t, "ALL")); !errors.Is(err, imapclient.ErrNotSupported) {
			t.Errorf("hostile algorithm: %v", err)
		}
	})
}

// storeFlagsOnServer returns the flags the server holds for uid, read without IMAP.
func storeFlagsOnServer(t *testing.T, s *test.Server, u test.User, uid uint32) []string {
	t.Helper()
	for _, m := range s.Messages(t, u, "INBOX") {
		if m.UID == uid {
			return m.Flags
		}
	}
	t.Fatalf("UID %d not on the server", uid)
	return nil
}

func TestStore(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		seedMessages(t, s, u, 3) // all \Flagged
		stored := s.Messages(t, u, "INBOX")
		uid := func(i int) imapclient.SeqSet { return imapclient.SeqSet{{Start: stored[i].UID, Stop: stored[i].UID}} }
		c := login(t, s, u, imapclient.Options{})
		ctx := ctxT(t)
		if _, err := c.Select(ctx, "INBOX", false); err != nil {
			t.Fatal(err)
		}
		check := func(i int, want ...string) {
			t.Helper()
			slices.Sort(want)
			if got := storeFlagsOnServer(t, s, u, stored[i].UID); !slices.Equal(got, want) {
				t.Errorf("UID %d on the server: %v, want %v", stored[i].UID, got, want)
			}
		}
		// Replace, not silent: the answer carries the new flags.
		res, err := c.UIDStore(ctx, uid(0), imapclient.StoreReplace, []string{`\Seen`, "$Label1"}, nil)
		if err != nil || len(res.Messages) != 1 || res.Messages[0].UID != stored[0].UID {
			t.Fatalf("UID STORE FLAGS: %+v, %v", res, err)
		}
		if f := res.Messages[0].Flags; !slices.Contains(f, `\Seen`) || !slices.Contains(f, "$Label1") || slices.Contains(f, `\Flagged`) {
			t.Errorf("answered flags %v", f)
		}
		check(0, `\Seen`, "$Label1")
		// Add, silent: no answer, the server changed.
		res, err = c.UIDStore(ctx, uid(0), imapclient.StoreAdd, []string{`\Answered`, "$Forwarded"}, &imapclient.StoreOptions{Silent: true})
		if err != nil || len(res.Messages) != 0 {
			t.Errorf("UID STORE +FLAGS.SILENT: %+v, %v", res, err)
		}
		check(0, `\Seen`, `\Answered`, "$Label1", "$Forwarded")
		// Remove a system flag and a keyword.
		if _, err := c.UIDStore(ctx, uid(0), imapclient.StoreRemove, []string{`\Seen`, "$Label1"}, nil); err != nil {
			t.Fatal(err)
		}
		check(0, `\Answered`, "$Forwarded")
		// Clear everything.
		if _, err := c.UIDStore(ctx, uid(0), imapclient.StoreReplace, nil, &imapclient.StoreOptions{Silent: true}); err != nil {
			t.Fatal(err)
		}
		check(0)
		// By sequence number, a range: messages 2 and 3.
		res, err = c.Store(ctx, imapclient.SeqSet{{Start: 2, Stop: 3}}, imapclient.StoreAdd, []string{`\Deleted`}, nil)
		if err != nil || len(res.Messages) != 2 || res.Messages[0].Seq != 2 || res.Messages[1].Seq != 3 {
			t.Fatalf("STORE 2:3: %+v, %v", res, err)
		}
		check(1, `\Flagged`, `\Deleted`)
		check(2, `\Flagged`, `\Deleted`)
		check(0)

		// Refused before sending.
		for _, flags := range [][]string{{`\Recent`}, {`\recent`}, {"bad flag"}, {"a)"}, {`\Seen` + "\r\nX DELETE INBOX"}, {""}} {
			if _, err := c.UIDStore(ctx, uid(1), imapclient.StoreAdd, flags, nil); err == nil {
				t.Errorf("flags %q accepted", flags)
			}
		}
		if _, err := c.UIDStore(ctx, nil, imapclient.StoreAdd, []string{`\Seen`}, nil); err == nil {
			t.Error("an empty set was sent")
		}
		check(1, `\Flagged`, `\Deleted`)
		// A read-only mailbox: refused without asking.
		if _, err := c.Select(ctx, "INBOX", true); err != nil {
			t.Fatal(err)
		}
		if _, err := c.UIDStore(ctx, uid(1), imapclient.StoreAdd, []string{`\Seen`}, nil); !errors.Is(err, imapclient.ErrReadOnly) {
			t.Errorf("STORE in EXAMINE: %v", err)
		}
		check(1, `\Flagged`, `\Deleted`)
		if err := c.Noop(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// condstoreUpdates collects Options.Updates.
type condstoreUpdates struct {
	mu  sync.Mutex
	ups []imapclient.Update
}

func (l *condstoreUpdates) add(u imapclient.Update) {
	l.mu.Lock()
	l.ups = append(l.ups, u)
	l.mu.Unlock()
}

func (l *condstoreUpdates) take() []imapclient.Update {
	l.mu.Lock()
	defer l.mu.Unlock()
	ups := l.ups
	l.ups = nil
	return ups
}

func condstoreVanished(ups []imapclient.Update) (imapclient.SeqSet, bool) {
	var set imapclient.SeqSet
	earlier := true
	for _, u := range ups {
		if v, ok := u.(imapclient.VanishedUpdate); ok {
			set = append(set, v.UIDs...)
			earlier = earlier && v.Earlier
		}
	}
	return set.Compact(), earlier && set != nil
}

func TestStoreUnchangedSince(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		seedMessages(t, s, u, 3)
		stored := s.Messages(t, u, "INBOX")
		c := login(t, s, u, imapclient.Options{})
		ctx := ctxT(t)
		mbox, err := c.SelectWith(ctx, "INBOX", false, &imapclient.SelectOptions{CondStore: true})
		if err != nil || mbox.HighestModSeq == 0 || mbox.NoModSeq {
			t.Fatalf("SELECT (CONDSTORE): %+v, %v", mbox, err)
		}
		all := imapclient.SeqSet{{Start: 1, Stop: imapclient.SeqStar}}
		before, err := c.UIDFetch(ctx, all, []string{imapclient.FetchModSeq}, nil)
		if err != nil || len(before) != 3 || before[0].ModSeq == 0 {
			t.Fatalf("FETCH MODSEQ: %v", err)
		}
		base := max(before[0].ModSeq, before[1].ModSeq, before[2].ModSeq)
		// Another client changes the first message.
		raw := s.Session(t, u)
		for _, cmd := range []string{"SELECT INBOX", fmt.Sprintf(`UID STORE %d +FLAGS.SILENT ($Other)`, stored[0].UID)} {
			if _, _, err := raw.Run(cmd); err != nil {
				t.Fatal(err)
			}
		}
		set := imapclient.SeqSet{{Start: stored[0].UID, Stop: stored[1].UID}}
		res, err := c.UIDStore(ctx, set, imapclient.StoreAdd, []string{`\Seen`}, &imapclient.StoreOptions{UnchangedSince: base})
		if err != nil {
			t.Fatal(err)
		}
		if res.Modified.String() != fmt.Sprint(stored[0].UID) {
			t.Errorf("MODIFIED %q, want %d", res.Modified, stored[0].UID)
		}
		for _, m := range res.Messages {
			if m.UID == stored[1].UID && (m.ModSeq <= base || !slices.Contains(m.Flags, `\Seen`)) {
				t.Errorf("answer for the changed message: %+v", m)
			}
		}
		if got := storeFlagsOnServer(t, s, u, stored[0].UID); slices.Contains(got, `\Seen`) {
			t.Errorf("the conflicting message was changed: %v", got)
		}
		if got := storeFlagsOnServer(t, s, u, stored[1].UID); !slices.Contains(got, `\Seen`) {
			t.Errorf("the unchanged message was not changed: %v", got)
		}
		// CHANGEDSINCE returns exactly the two messages changed since base.
		changed, err := c.UIDFetch(ctx, all, []string{imapclient.FetchFlags}, &imapclient.FetchOptions{ChangedSince: base})
		var got []uint32
		for _, m := range changed {
			got = append(got, m.UID)
		}
		slices.Sort(got)
		if err != nil || !slices.Equal(got, []uint32{stored[0].UID, stored[1].UID}) {
			t.Errorf("FETCH CHANGEDSINCE: %v, %v", got, err)
		}
	})
}

func TestQResync(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		seedMessages(t, s, u, 4)
		stored := s.Messages(t, u, "INBOX")
		var log condstoreUpdates
		c := login(t, s, u, imapclient.Options{Updates: log.add})
		ctx := ctxT(t)
		q := &imapclient.QResyncParams{UIDValidity: 1, ModSeq: 1}
		if _, err := c.SelectWith(ctx, "INBOX", false, &imapclient.SelectOptions{QResync: q}); err == nil {
			t.Error("QRESYNC sent before ENABLE")
		}
		if on, err := c.Enable(ctx, "QRESYNC"); err != nil || !slices.Contains(on, "QRESYNC") {
			t.Fatalf("ENABLE QRESYNC: %v, %v", on, err)
		}
		mbox, err := c.SelectWith(ctx, "INBOX", false, &imapclient.SelectOptions{CondStore: true})
		if err != nil || mbox.HighestModSeq == 0 {
			t.Fatalf("SELECT: %+v, %v", mbox, err)
		}
		if err := c.Unselect(ctx); err != nil {
			t.Fatal(err)
		}
		// Another session expunges the second message and flags the third.
		raw := s.Session(t, u)
		for _, cmd := range []string{"SELECT INBOX",
			fmt.Sprintf(`UID STORE %d +FLAGS.SILENT (\Deleted)`, stored[1].UID),
			fmt.Sprintf(`UID STORE %d +FLAGS.SILENT (\Seen)`, stored[2].UID), "EXPUNGE"} {
			if _, _, err := raw.Run(cmd); err != nil {
				t.Fatal(err)
			}
		}
		log.take()
		q = &imapclient.QResyncParams{UIDValidity: mbox.UIDValidity, ModSeq: mbox.HighestModSeq,
			KnownUIDs: imapclient.SeqSet{{Start: stored[0].UID, Stop: stored[3].UID}}}
		again, err := c.SelectWith(ctx, "INBOX", false, &imapclient.SelectOptions{QResync: q})
		if err != nil || again.Exists != 3 || again.HighestModSeq <= mbox.HighestModSeq {
			t.Fatalf("SELECT (QRESYNC): %+v, %v", again, err)
		}
		ups := log.take()
		set, earlier := condstoreVanished(ups)
		if set.String() != fmt.Sprint(stored[1].UID) || !earlier {
			t.Errorf("VANISHED (EARLIER) %q (earlier %v), want %d; updates %v", set, earlier, stored[1].UID, ups)
		}
		var flagged bool
		for _, u := range ups {
			if m, ok := u.(imapclient.MessageUpdate); ok && m.Message.UID == stored[2].UID && slices.Contains(m.Message.Flags, `\Seen`) {
				flagged = true
			}
		}
		if !flagged {
			t.Errorf("no FETCH for the message flagged meanwhile: %v", ups)
		}
		// UID FETCH CHANGEDSINCE VANISHED reports the same expunge.
		all := imapclient.SeqSet{{Start: 1, Stop: imapclient.SeqStar}}
		msgs, err := c.UIDFetch(ctx, all, []string{imapclient.FetchFlags}, &imapclient.FetchOptions{ChangedSince: mbox.HighestModSeq, Vanished: true})
		if err != nil || len(msgs) != 1 || msgs[0].UID != stored[2].UID || msgs[0].ModSeq <= mbox.HighestModSeq {
			t.Errorf("UID FETCH CHANGEDSINCE VANISHED: %v, %v", msgs, err)
		}
		if set, earlier := condstoreVanished(log.take()); set.String() != fmt.Sprint(stored[1].UID) || !earlier {
			t.Errorf("UID FETCH VANISHED: %q, earlier %v", set, earlier)
		}
		// The server state, read without IMAP.
		if got := s.Messages(t, u, "INBOX"); len(got) != 3 || got[1].UID != stored[2].UID {
			t.Errorf("server holds %+v", got)
		}
		// Bad parameters are refused before sending.
		if _, err := c.SelectWith(ctx, "INBOX", false, &imapclient.SelectOptions{QResync: &imapclient.QResyncParams{}}); err == nil {
			t.Error("zero QRESYNC parameters sent")
		}
	})
}
