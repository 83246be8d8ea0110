package imapclient_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"imapfs/imapclient"
	"imapfs/imapclient/imapwire"
	"imapfs/test"
)

// mailboxesByName indexes a LIST answer by mailbox name.
func mailboxesByName(t *testing.T, list []*imapclient.MailboxInfo) map[string]*imapclient.MailboxInfo {
	t.Helper()
	m := map[string]*imapclient.MailboxInfo{}
	for _, mb := range list {
		if m[mb.Name] != nil {
			t.Errorf("%q listed twice", mb.Name)
		}
		m[mb.Name] = mb
	}
	return m
}

func mailboxesNames(list []*imapclient.MailboxInfo) []string {
	var names []string
	for _, mb := range list {
		names = append(names, mb.Name)
	}
	slices.Sort(names)
	return names
}

// mailboxesStatusCode checks that err is a tagged NO, with code unless
// code is "" (a server that sends none).
func mailboxesStatusCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	var se *imapclient.StatusError
	if !errors.As(err, &se) || !errors.Is(err, imapclient.ErrNo) {
		t.Fatalf("%s: %v, want a tagged NO", what, err)
	}
	if code != "" && !se.HasCode(code) {
		t.Errorf("%s: %v, want code %s", what, err, code)
	}
}

// LIST shows the hierarchy with the server's delimiter and attributes;
// reference and patterns with * and % select what they should.
func TestListHierarchy(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		s.CreateMailbox(t, u, s.Personal("A", "B", "C"))
		s.CreateMailbox(t, u, s.Personal("D"))
		c := login(t, s, u, imapclient.Options{})
		ctx := ctxT(t)

		all, err := c.List(ctx, "", "*")
		if err != nil {
			t.Fatal(err)
		}
		byName := mailboxesByName(t, all)
		want := []string{"INBOX", s.Personal("A"), s.Personal("A", "B"), s.Personal("A", "B", "C"), s.Personal("D")}
		slices.Sort(want)
		if got := mailboxesNames(all); !slices.Equal(got, want) {
			t.Fatalf("LIST * = %q, want %q", got, want)
		}
		for _, mb := range all {
			if mb.Delimiter != s.Delimiter {
				t.Errorf("%q: delimiter %q, want %q", mb.Name, mb.Delimiter, s.Delimiter)
			}
		}
		if a := byName[s.Personal("A")]; !a.HasAttr(imapclient.AttrHasChildren) || a.HasAttr(imapclient.AttrHasNoChildren) {
			t.Errorf("A: attributes %q", a.Attributes)
		}
		if c := byName[s.Personal("A", "B", "C")]; !c.HasAttr(`\hasnochildren`) {
			t.Errorf("A/B/C: attributes %q", c.Attributes)
		}
		// Dovecot creates no parent mailboxes: A is only a name (\Noselect);
		// Cyrus creates real ones.
		if got := byName[s.Personal("A")].HasAttr(imapclient.AttrNoSelect); got != (s.Kind == "dovecot") {
			t.Errorf("A: \\Noselect is %v on %s (attributes %q)", got, s.Kind, byName[s.Personal("A")].Attributes)
		}

		// "%" stops at the delimiter; a reference names the level below.
		top, err := c.List(ctx, "", s.Personal("%"))
		if err != nil {
			t.Fatal(err)
		}
		wantTop := []string{s.Personal("A"), s.Personal("D")}
		if s.Kind == "dovecot" {
			wantTop = append(wantTop, "INBOX") // INBOX is itself at the top
		}
		slices.Sort(wantTop)
		if got := mailboxesNames(top); !slices.Equal(got, wantTop) {
			t.Errorf("LIST %q = %q, want %q", s.Personal("%"), got, wantTop)
		}
		below, err := c.List(ctx, s.Personal("A")+s.Delimiter, "%")
		if err != nil {
			t.Fatal(err)
		}
		if got := mailboxesNames(below); !slices.Equal(got, []string{s.Personal("A", "B")}) {
			t.Errorf("LIST below A = %q", got)
		}

		// LIST "" "" gives the delimiter alone.
		root, err := c.List(ctx, "", "")
		if err != nil {
			t.Fatal(err)
		}
		if len(root) != 1 || root[0].Delimiter != s.Delimiter || root[0].Name != "" || !root[0].HasAttr(imapclient.AttrNoSelect) {
			t.Errorf(`LIST "" "" = %+v`, root)
		}

		none, err := c.List(ctx, "", "nothing-like-this*")
		if err != nil || len(none) != 0 {
			t.Errorf("LIST of nothing: %v %v", none, err)
		}
	})
}

// Non-ASCII names go out in modified UTF-7 and come back in UTF-8.
func TestMailboxNamesInternational(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		c := login(t, s, u, imapclient.Options{})
		ctx := ctxT(t)
		buero, japan := s.Personal("Büro & Co"), s.Personal("日本", "東京")
		for _, name := range []string{buero, s.Personal("日本"), japan} {
			if err := c.Create(ctx, name); err != nil {
				t.Fatalf("create %q: %v", name, err)
			}
		}
		list, err := c.List(ctx, "", "*")
		if err != nil {
			t.Fatal(err)
		}
		byName := mailboxesByName(t, list)
		for _, name := range []string{buero, s.Personal("日本"), japan} {
			if byName[name] == nil {
				t.Errorf("%q not listed; got %q", name, mailboxesNames(list))
			}
		}
		// A pattern with non-ASCII text matches too.
		sub, err := c.List(ctx, "", s.Personal("日本", "*"))
		if err != nil || len(sub) != 1 || sub[0].Name != japan {
			t.Errorf("LIST 日本/*: %v %v", sub, err)
		}

		// Independently: the server holds the names we meant.
		if s.Kind == "dovecot" {
			out := s.Doveadm(t, "mailbox", "list", "-u", u.Name)
			for _, name := range []string{buero, japan} {
				if !slices.Contains(strings.Split(out, "\n"), name) {
					t.Errorf("doveadm mailbox list lacks %q:\n%s", name, out)
				}
			}
		} else {
			untagged, _, err := s.Session(t, u).Run(`LIST "" "INBOX.*"`)
			if err != nil {
				t.Fatal(err)
			}
			raw := strings.Join(untagged, "\n")
			for _, enc := range []string{`"INBOX.B&APw-ro &- Co"`, `INBOX.&ZeVnLA-.&Z3FOrA-`} {
				if !strings.Contains(raw, enc) {
					t.Errorf("raw LIST lacks %s:\n%s", enc, raw)
				}
			}
		}

		// STATUS and RENAME work on such names too.
		if st, err := c.Status(ctx, buero, imapclient.StatusMessages); err != nil || st.Mailbox != buero || !st.Has(imapclient.StatusMessages) {
			t.Errorf("STATUS %q: %+v %v", buero, st, err)
		}
		renamed := s.Personal("Ärger")
		if err := c.Rename(ctx, buero, renamed); err != nil {
			t.Fatal(err)
		}
		list, err = c.List(ctx, "", s.Personal("*"))
		if err != nil {
			t.Fatal(err)
		}
		if byName := mailboxesByName(t, list); byName[renamed] == nil || byName[buero] != nil {
			t.Errorf("after RENAME: %q", mailboxesNames(list))
		}
	})
}

// SUBSCRIBE and UNSUBSCRIBE change what LSUB and LIST (SUBSCRIBED) show.
func TestSubscriptions(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		s.CreateMailbox(t, u, s.Personal("Lists", "Go"))
		c := login(t, s, u, imapclient.Options{})
		ctx := ctxT(t)
		goName := s.Personal("Lists", "Go")

		if err := c.Subscribe(ctx, goName); err != nil {
			t.Fatal(err)
		}
		lsub, err := c.Lsub(ctx, "", s.Personal("*"))
		if err != nil {
			t.Fatal(err)
		}
		if got := mailboxesNames(lsub); !slices.Equal(got, []string{goName}) {
			t.Errorf("LSUB after SUBSCRIBE = %q", got)
		}
		// With "%", the unsubscribed parent of a subscribed child shows as
		// \Noselect (RFC 3501 6.3.9).
		lsub, err = c.Lsub(ctx, "", s.Personal("%"))
		if err != nil {
			t.Fatal(err)
		}
		if len(lsub) != 1 || lsub[0].Name != s.Personal("Lists") || !lsub[0].HasAttr(imapclient.AttrNoSelect) {
			t.Errorf("LSUB %% = %+v", lsub)
		}
		if s.Kind == "dovecot" {
			if out := s.Doveadm(t, "mailbox", "list", "-s", "-u", u.Name); strings.TrimSpace(out) != goName {
				t.Errorf("doveadm subscriptions: %q", out)
			}
		}

		// LIST-EXTENDED: SUBSCRIBED selects, RECURSIVEMATCH reports the
		// parent with CHILDINFO.
		sub, err := c.ListExtended(ctx, "", []string{s.Personal("%")}, imapclient.ListOptions{SelectSubscribed: true, SelectRecursiveMatch: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(sub) != 1 || sub[0].Name != s.Personal("Lists") || !slices.Equal(sub[0].ChildInfo, []string{"SUBSCRIBED"}) {
			t.Errorf("LIST (SUBSCRIBED RECURSIVEMATCH) %%: %+v", sub)
		}
		ret, err := c.ListExtended(ctx, "", []string{s.Personal("*")}, imapclient.ListOptions{ReturnSubscribed: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, mb := range ret {
			if mb.HasAttr(imapclient.AttrSubscribed) != (mb.Name == goName) {
				t.Errorf("RETURN (SUBSCRIBED): %q has %q", mb.Name, mb.Attributes)
			}
		}
		if _, err := c.ListExtended(ctx, "", []string{"*"}, imapclient.ListOptions{SelectRecursiveMatch: true}); !errors.As(err, new(*imapwire.ArgumentError)) {
			t.Errorf("RECURSIVEMATCH alone: %v, want an ArgumentError", err)
		}

		if err := c.Unsubscribe(ctx, goName); err != nil {
			t.Fatal(err)
		}
		if lsub, err := c.Lsub(ctx, "", "*"); err != nil || len(lsub) != 0 {
			t.Errorf("LSUB after UNSUBSCRIBE: %v %v", mailboxesNames(lsub), err)
		}
		if s.Kind == "dovecot" {
			if out := s.Doveadm(t, "mailbox", "list", "-s", "-u", u.Name); strings.TrimSpace(out) != "" {
				t.Errorf("doveadm subscriptions after UNSUBSCRIBE: %q", out)
			}
		}
		// Both servers refuse to subscribe to a missing mailbox, without a
		// code.
		mailboxesStatusCode(t, "SUBSCRIBE missing", c.Subscribe(ctx, s.Personal("missing")), "")
	})
}

// STATUS answers what the server holds, as its own tools see it.
func TestStatusCounts(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		box := s.Personal("Counted")
		s.CreateMailbox(t, u, box)
		for i, flags := range [][]string{{`\Seen`}, nil, {`\Flagged`}, {`\Seen`, `\Answered`}} {
			s.Seed(t, u, box, test.Message{Body: fmt.Appendf(nil, "Subject: %d\r\n\r\n%s\r\n", i, strings.Repeat("x", 100*i)), Flags: flags})
		}
		c := login(t, s, u, imapclient.Options{})
		ctx := ctxT(t)

		st, err := c.Status(ctx, box, imapclient.StatusMessages, imapclient.StatusRecent, imapclient.StatusUIDNext,
			imapclient.StatusUIDValidity, imapclient.StatusUnseen, imapclient.StatusHighestModSeq, imapclient.StatusSize)
		if err != nil {
			t.Fatal(err)
		}
		stored := s.Messages(t, u, box)
		var unseen uint32
		var size int64
		for _, m := range stored {
			if !slices.Contains(m.Flags, `\Seen`) {
				unseen++
			}
			size += m.Size
		}
		if st.Mailbox != box || st.Messages != uint32(len(stored)) || st.Unseen != unseen || st.Size != size ||
			st.UIDNext != stored[len(stored)-1].UID+1 || st.UIDValidity == 0 || st.HighestModSeq == 0 || st.Recent > st.Messages {
			t.Errorf("STATUS = %+v; the server holds %d messages, %d unseen, %d bytes, last UID %d",
				st, len(stored), unseen, size, stored[len(stored)-1].UID)
		}
		for _, item := range []string{"MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "HIGHESTMODSEQ", "SIZE"} {
			if !st.Has(item) {
				t.Errorf("STATUS lacks %s", item)
			}
		}
		// Only what was asked for comes back.
		st, err = c.Status(ctx, "inbox", imapclient.StatusUIDNext)
		if err != nil || st.Has(imapclient.StatusMessages) || !st.Has(imapclient.StatusUIDNext) || st.UIDNext != 1 {
			t.Errorf("STATUS inbox (UIDNEXT): %+v %v", st, err)
		}

		// APPENDLIMIT: Dovecot does not offer it; Cyrus 3.6 announces
		// APPENDLIMIT=n but refuses the STATUS item with BAD.
		_, err = c.Status(ctx, box, imapclient.StatusAppendLimit)
		if s.Kind == "dovecot" {
			if !errors.Is(err, imapclient.ErrNotSupported) {
				t.Errorf("STATUS APPENDLIMIT on Dovecot: %v", err)
			}
		} else if !errors.Is(err, imapclient.ErrBad) {
			t.Errorf("STATUS APPENDLIMIT on Cyrus: %v", err)
		}

		// A plain NO from both: neither sends NONEXISTENT here.
		_, err = c.Status(ctx, s.Personal("missing"), imapclient.StatusMessages)
		mailboxesStatusCode(t, "STATUS missing", err, "")
		if err := c.Noop(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// LIST-STATUS, CHILDREN and SPECIAL-USE in one LIST-EXTENDED command.
func TestListExtendedReturn(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		box := s.Personal("Parent", "Full")
		s.CreateMailbox(t, u, box)
		uids := s.Seed(t, u, box, test.Message{Body: []byte("Subject: a\r\n\r\na\r\n")}, test.Message{Body: []byte("Subject: b\r\n\r\nb\r\n")})
		c := login(t, s, u, imapclient.Options{})
		ctx := ctxT(t)

		sent := s.Personal("Sent")
		err := c.Create(ctx, sent, imapclient.AttrSent)
		opts := imapclient.ListOptions{
			ReturnChildren: true,
			ReturnStatus:   []string{imapclient.StatusMessages, imapclient.StatusUIDNext},
		}
		if s.Kind == "dovecot" {
			// This Dovecot has no special-use mailboxes configured, so it
			// offers neither SPECIAL-USE nor CREATE-SPECIAL-USE.
			if !errors.Is(err, imapclient.ErrNotSupported) {
				t.Fatalf("CREATE (USE) on Dovecot: %v", err)
			}
			_, err := c.ListExtended(ctx, "", []string{"*"}, imapclient.ListOptions{ReturnSpecialUse: true})
			if !errors.Is(err, imapclient.ErrNotSupported) {
				t.Errorf("RETURN (SPECIAL-USE) on Dovecot: %v", err)
			}
			if err := c.Create(ctx, sent); err != nil {
				t.Fatal(err)
			}
		} else {
			if err != nil {
				t.Fatalf("CREATE (USE (\\Sent)): %v", err)
			}
			opts.ReturnSpecialUse = true
		}

		list, err := c.ListExtended(ctx, "", []string{s.Personal("Parent", "*"), sent}, opts)
		if err != nil {
			t.Fatal(err)
		}
		byName := mailboxesByName(t, list)
		full := byName[box]
		if full == nil || full.Status == nil {
			t.Fatalf("LIST-STATUS: %q, %+v", mailboxesNames(list), full)
		}
		stored := s.Messages(t, u, box)
		if full.Status.Messages != uint32(len(stored)) || full.Status.UIDNext != uids[len(uids)-1]+1 ||
			!full.Status.Has(imapclient.StatusUIDNext) || full.Status.Has(imapclient.StatusUnseen) {
			t.Errorf("LIST-STATUS of %q: %+v, server holds %d", box, full.Status, len(stored))
		}
		if !full.HasAttr(imapclient.AttrHasNoChildren) {
			t.Errorf("%q: %q", box, full.Attributes)
		}
		if mb := byName[sent]; mb == nil || mb.Status == nil || mb.Status.Messages != 0 {
			t.Errorf("second pattern: %+v", mb)
		} else if s.Kind == "cyrus" && !mb.HasAttr(imapclient.AttrSent) {
			t.Errorf("RETURN (SPECIAL-USE): %q has %q", sent, mb.Attributes)
		}
		if s.Kind == "cyrus" {
			only, err := c.ListExtended(ctx, "", []string{"*"}, imapclient.ListOptions{SelectSpecialUse: true})
			if err != nil || len(only) != 1 || only[0].Name != sent {
				t.Errorf("LIST (SPECIAL-USE): %v %v", mailboxesNames(only), err)
			}
		}
	})
}

// CREATE, DELETE and RENAME, and the errors the servers give.
func TestCreateDeleteRename(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		c := login(t, s, u, imapclient.Options{})
		ctx := ctxT(t)
		old := s.Personal("Old")
		for _, name := range []string{old, s.Personal("Old", "Kid"), s.Personal("Old", "Kid", "Grandkid")} {
			if err := c.Create(ctx, name); err != nil {
				t.Fatal(err)
			}
		}
		s.Seed(t, u, s.Personal("Old", "Kid"), test.Message{Body: []byte("Subject: kept\r\n\r\nkept\r\n")})

		// Dovecot says ALREADYEXISTS; Cyrus only NO.
		code := ""
		if s.Kind == "dovecot" {
			code = imapwire.CodeAlreadyExists
		}
		mailboxesStatusCode(t, "CREATE existing", c.Create(ctx, old), code)
		mailboxesStatusCode(t, "CREATE INBOX", c.Create(ctx, "INBOX"), code)

		// RENAME takes the children and their messages along.
		renamed := s.Personal("New")
		if err := c.Rename(ctx, old, renamed); err != nil {
			t.Fatal(err)
		}
		list, err := c.List(ctx, "", s.Personal("*"))
		if err != nil {
			t.Fatal(err)
		}
		want := []string{renamed, s.Personal("New", "Kid"), s.Personal("New", "Kid", "Grandkid")}
		if s.Kind == "dovecot" {
			want = append(want, "INBOX") // Personal("*") is "*" there
		}
		slices.Sort(want)
		if got := mailboxesNames(list); !slices.Equal(got, want) {
			t.Errorf("after RENAME: %q, want %q", got, want)
		}
		if msgs := s.Messages(t, u, s.Personal("New", "Kid")); len(msgs) != 1 {
			t.Errorf("the child's message after RENAME: %+v", msgs)
		}
		if s.Kind == "dovecot" {
			out := s.Doveadm(t, "mailbox", "list", "-u", u.Name)
			if strings.Contains(out, "Old") || !strings.Contains(out, "New/Kid/Grandkid") {
				t.Errorf("doveadm after RENAME:\n%s", out)
			}
		}

		missing := s.Personal("Missing")
		code = ""
		if s.Kind == "dovecot" {
			code = imapwire.CodeNonExistent
		}
		mailboxesStatusCode(t, "DELETE missing", c.Delete(ctx, missing), code)
		mailboxesStatusCode(t, "RENAME missing", c.Rename(ctx, missing, s.Personal("Other")), code)

		// Deleting a leaf removes it.
		leaf := s.Personal("New", "Kid", "Grandkid")
		if err := c.Delete(ctx, leaf); err != nil {
			t.Fatal(err)
		}
		if list, err := c.List(ctx, "", leaf); err != nil || len(list) != 0 {
			t.Errorf("LIST after DELETE: %v %v", mailboxesNames(list), err)
		}
		if s.Kind == "dovecot" {
			if out := s.Doveadm(t, "mailbox", "list", "-u", u.Name); strings.Contains(out, "Grandkid") {
				t.Errorf("doveadm after DELETE:\n%s", out)
			}
		}
		// Cyrus refuses to delete a mailbox with children (HASCHILDREN);
		// Dovecot deletes it and keeps the children, the parent becoming a
		// name only.
		err = c.Delete(ctx, renamed)
		if s.Kind == "cyrus" {
			mailboxesStatusCode(t, "DELETE parent", err, imapwire.CodeHasChildren)
		} else if err != nil {
			t.Errorf("DELETE parent on Dovecot: %v", err)
		}
	})
}

// Hostile names are refused by the encoder: nothing reaches the server
// and the connection stays usable.
func TestMailboxNamesHostile(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		var log bytes.Buffer
		var mu sync.Mutex
		c := login(t, s, u, imapclient.Options{Logger: slogTo(&lockedWriter{w: &log, mu: &mu}), Debug: 1})
		ctx := ctxT(t)
		mu.Lock()
		before := log.Len()
		mu.Unlock()

		hostile := []string{"a\r\nX1 DELETE INBOX", "nul\x00name", "bad\xffutf8", "line\nbreak"}
		for _, name := range hostile {
			calls := map[string]error{
				"CREATE":      c.Create(ctx, name),
				"DELETE":      c.Delete(ctx, name),
				"RENAME from": c.Rename(ctx, name, "ok"),
				"RENAME to":   c.Rename(ctx, "INBOX", name),
				"SUBSCRIBE":   c.Subscribe(ctx, name),
				"UNSUBSCRIBE": c.Unsubscribe(ctx, name),
			}
			_, calls["STATUS"] = c.Status(ctx, name, imapclient.StatusMessages)
			_, calls["LIST pattern"] = c.List(ctx, "", name)
			_, calls["LIST reference"] = c.List(ctx, name, "*")
			_, calls["LSUB"] = c.Lsub(ctx, "", name)
			_, calls["LIST-EXTENDED"] = c.ListExtended(ctx, "", []string{"*", name}, imapclient.ListOptions{ReturnChildren: true})
			for what, err := range calls {
				if !errors.As(err, new(*imapwire.ArgumentError)) {
					t.Errorf("%s %q: %v, want an ArgumentError", what, name, err)
				}
			}
		}
		if err := c.Noop(ctx); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		sent := log.String()[before:]
		mu.Unlock()
		if !strings.Contains(sent, "NOOP") {
			t.Fatalf("the trace does not show commands:\n%s", sent)
		}
		for _, cmd := range []string{"CREATE", "DELETE", "RENAME", "SUBSCRIBE", "STATUS", "LIST", "LSUB"} {
			if strings.Contains(sent, cmd) {
				t.Errorf("%s reached the wire:\n%s", cmd, sent)
			}
		}
		if list, err := c.List(ctx, "", "*"); err != nil || len(list) != 1 || list[0].Name != "INBOX" {
			t.Errorf("mailboxes after the refusals: %v %v", mailboxesNames(list), err)
		}
	})
}

// NAMESPACE tells where each server keeps personal, other users' and
// shared mailboxes.
func TestNamespace(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		c := login(t, s, s.NewUser(t), imapclient.Options{})
		ns, err := c.Namespace(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		want := &imapclient.Namespaces{
			// Dovecot: personal at the top, other users under "shared/"
			// (its shared namespace, of type "shared" but announced as
			// other users'), no shared folders.
			Personal:   []imapclient.Namespace{{Prefix: "", Delimiter: "/"}},
			OtherUsers: []imapclient.Namespace{{Prefix: "shared/", Delimiter: "/"}},
		}
		if s.Kind == "cyrus" {
			want = &imapclient.Namespaces{
				Personal:   []imapclient.Namespace{{Prefix: "INBOX.", Delimiter: "."}},
				OtherUsers: []imapclient.Namespace{{Prefix: "user.", Delimiter: "."}},
				Shared:     []imapclient.Namespace{{Prefix: "", Delimiter: "."}},
			}
		}
		if got, want := fmt.Sprintf("%+v", ns), fmt.Sprintf("%+v", want); got != want {
			t.Errorf("NAMESPACE = %s, want %s", got, want)
		}
	})
}

// ID sends our identity (or NIL) and returns the server's.
func TestID(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		c := login(t, s, s.NewUser(t), imapclient.Options{})
		ctx := ctxT(t)
		wantName := map[string]string{"dovecot": "Dovecot", "cyrus": "Cyrus IMAPD"}[s.Kind]
		for _, fields := range []map[string]string{nil, {"name": "imapfs", "version": "1.0", "os": "Linux \"quoted\""}} {
			server, err := c.ID(ctx, fields)
			if err != nil {
				t.Fatalf("ID %v: %v", fields, err)
			}
			if server["name"] != wantName {
				t.Errorf("ID %v: server says %q", fields, server)
			}
			if s.Kind == "cyrus" && server["vendor"] != "Project Cyrus" {
				t.Errorf("Cyrus ID: %q", server)
			}
		}
		_, err := c.ID(ctx, map[string]string{strings.Repeat("k", 31): "v"})
		if !errors.As(err, new(*imapwire.ArgumentError)) {
			t.Errorf("ID with a 31-byte field name: %v", err)
		}
		if err := c.Noop(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// mailboxesScripted runs a Client against a scripted server on a pipe: each
// command's name gets the canned untagged lines, then a tagged OK.
func mailboxesScripted(t *testing.T, caps string, answers map[string]string) *imapclient.Client {
	t.Helper()
	client, server := net.Pipe()
	t.Cleanup(func() { server.Close() })
	go func() {
		r := bufio.NewReader(server)
		fmt.Fprintf(server, "* OK [CAPABILITY IMAP4rev1 %s] scripted\r\n", caps)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			fields := strings.Fields(line)
			if len(fields) < 2 {
				return
			}
			fmt.Fprintf(server, "%s%s OK done\r\n", answers[strings.ToUpper(fields[1])], fields[0])
		}
	}()
	c, err := imapclient.New(ctxT(t), client, imapclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// The forms real servers here do not send: NIL delimiter, literal names,
// OLDNAME and unknown extended items, names that are not modified UTF-7,
// APPENDLIMIT NIL, namespace extensions, ID NIL.
func TestMailboxesParsing(t *testing.T) {
	c := mailboxesScripted(t, "LIST-EXTENDED NAMESPACE ID APPENDLIMIT", map[string]string{
		"LIST": "* LIST (\\Noselect) NIL {8}\r\nB&APw-ro\r\n" +
			"* LIST (\\HasNoChildren) \"/\" Neu (\"OLDNAME\" (\"Alt&APw-\") \"X-FOO\" (1 2))\r\n" +
			"* LIST () \"/\" \"bad&name\"\r\n",
		"STATUS":    "* STATUS inbox (APPENDLIMIT NIL X-NEW 5)\r\n",
		"NAMESPACE": "* NAMESPACE ((\"\" \"/\" \"X-PARAM\" (\"a\" \"b\"))) NIL ((\"Public/\" NIL))\r\n",
		"ID":        "* ID NIL\r\n",
	})
	ctx := ctxT(t)
	list, err := c.ListExtended(ctx, "", []string{"*", "%"}, imapclient.ListOptions{ReturnChildren: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 {
		t.Fatalf("LIST: %d answers", len(list))
	}
	if m := list[0]; m.Name != "Büro" || m.Delimiter != "" || !m.HasAttr(imapclient.AttrNoSelect) {
		t.Errorf("literal name, NIL delimiter: %+v", m)
	}
	if m := list[1]; m.Name != "Neu" || m.OldName != "Altü" || m.Extended["X-FOO"].String() != "(1 2)" {
		t.Errorf("extended items: %+v", m)
	}
	if m := list[2]; m.Name != "bad&name" || len(m.Attributes) != 0 {
		t.Errorf("undecodable name: %+v", m)
	}

	st, err := c.Status(ctx, "INBOX", imapclient.StatusAppendLimit, "X-NEW")
	if err != nil || !st.Has(imapclient.StatusAppendLimit) || st.AppendLimit != 0 || st.Items["X-NEW"].Number != 5 {
		t.Errorf("STATUS: %+v %v", st, err)
	}

	ns, err := c.Namespace(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ns.Personal) != 1 || !slices.Equal(ns.Personal[0].Extensions["X-PARAM"], []string{"a", "b"}) ||
		ns.OtherUsers != nil || len(ns.Shared) != 1 || ns.Shared[0].Prefix != "Public/" || ns.Shared[0].Delimiter != "" {
		t.Errorf("NAMESPACE: %+v", ns)
	}

	if server, err := c.ID(ctx, map[string]string{}); err != nil || server != nil {
		t.Errorf("ID NIL: %v %v", server, err)
	}
	// What the server lacks is refused before sending.
	for what, err := range map[string]error{
		"STATUS=SIZE": func() error { _, err := c.Status(ctx, "INBOX", imapclient.StatusSize); return err }(),
		"CONDSTORE":   func() error { _, err := c.Status(ctx, "INBOX", imapclient.StatusHighestModSeq); return err }(),
		"LIST-STATUS": func() error {
			_, err := c.ListExtended(ctx, "", []string{"*"}, imapclient.ListOptions{ReturnStatus: []string{"MESSAGES"}})
			return err
		}(),
		"CREATE-SPECIAL-USE": c.Create(ctx, "Sent", imapclient.AttrSent),
	} {
		var nse *imapclient.NotSupportedError
		if !errors.As(err, &nse) || nse.Capability != what {
			t.Errorf("%s: %v", what, err)
		}
	}
}
