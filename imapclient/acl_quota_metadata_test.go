package imapclient_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"imapfs/imapclient"
	"imapfs/imapclient/imapwire"
	"imapfs/test"
)

// aclSortRights returns rights as a sorted set of letters, so rights
// compare whatever order the server lists them in.
func aclSortRights(rights string) string {
	r := []byte(rights)
	slices.Sort(r)
	return string(slices.Compact(r))
}

// aclRightsOf finds identifier in an ACL; "" when it is absent.
func aclRightsOf(acl []imapclient.ACLEntry, identifier string) (string, bool) {
	for _, e := range acl {
		if e.Identifier == identifier {
			return aclSortRights(e.Rights), true
		}
	}
	return "", false
}

// aclOtherUsersInbox is the name another user gives to owner's INBOX.
func aclOtherUsersInbox(s *test.Server, owner test.User) string {
	if s.Kind == "cyrus" {
		return "user." + owner.Name
	}
	return "shared/" + owner.Name
}

func aclWantNo(t *testing.T, what string, err error) *imapclient.StatusError {
	t.Helper()
	var se *imapclient.StatusError
	if !errors.Is(err, imapclient.ErrNo) || !errors.As(err, &se) {
		t.Fatalf("%s: %v, want a NO", what, err)
	}
	return se
}

func TestACLGrantAndRevoke(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		ctx := ctxT(t)
		owner, grantee := s.NewUser(t), s.NewUser(t)
		s.Seed(t, owner, "INBOX", test.Message{Body: []byte("Subject: shared\r\n\r\nfor the grantee\r\n")})
		c := login(t, s, owner, imapclient.Options{})

		acl, err := c.GetACL(ctx, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		if rights, ok := aclRightsOf(acl, owner.Name); !ok || !strings.Contains(rights, "a") || !strings.Contains(rights, "l") {
			t.Fatalf("GETACL INBOX = %v: the owner %s lacks 'a' or 'l'", acl, owner.Name)
		}
		mine, err := c.MyRights(ctx, "INBOX")
		if err != nil || !strings.Contains(mine, "a") || !strings.Contains(mine, "r") {
			t.Fatalf("MYRIGHTS INBOX = %q, %v", mine, err)
		}
		lr, err := c.ListRights(ctx, "INBOX", grantee.Name)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range []string{"l", "r", "w", "a"} {
			if !slices.Contains(lr.Optional, r) && !strings.Contains(lr.Required, r) {
				t.Errorf("LISTRIGHTS = %+v: no %q", lr, r)
			}
		}

		// Replace, add to, and take from the grantee's rights.
		for _, step := range []struct{ rights, want string }{
			{"lrs", "lrs"}, {"+w", "lrsw"}, {"-s", "lrw"},
		} {
			if err := c.SetACL(ctx, "INBOX", grantee.Name, step.rights); err != nil {
				t.Fatalf("SETACL %s: %v", step.rights, err)
			}
			acl, err := c.GetACL(ctx, "INBOX")
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := aclRightsOf(acl, grantee.Name); got != aclSortRights(step.want) {
				t.Fatalf("after SETACL %s: %v, want %s %s", step.rights, acl, grantee.Name, step.want)
			}
		}
		if s.Kind == "dovecot" {
			// The server's own view of the ACL file.
			out := s.Doveadm(t, "acl", "get", "-u", owner.Name, "INBOX")
			if !strings.Contains(out, "user="+grantee.Name) {
				t.Errorf("doveadm acl get does not show %s:\n%s", grantee.Name, out)
			}
		}

		// The grantee sees the owner's INBOX through the other-users
		// namespace, with exactly the rights granted and no more.
		g := login(t, s, grantee, imapclient.Options{})
		shared := aclOtherUsersInbox(s, owner)
		theirs, err := g.MyRights(ctx, shared)
		if err != nil || aclSortRights(theirs) != "lrw" {
			t.Fatalf("grantee MYRIGHTS %s = %q, %v; want lrw", shared, theirs, err)
		}
		mb, err := g.Select(ctx, shared, true)
		if err != nil || mb.Exists != 1 {
			t.Fatalf("grantee EXAMINE %s: %+v, %v", shared, mb, err)
		}
		aclWantNo(t, "grantee GETACL without 'a'", firstErr(g.GetACL(ctx, shared)))
		aclWantNo(t, "grantee SETACL without 'a'", g.SetACL(ctx, shared, grantee.Name, "lrswipkxtecda"))
		if acl, _ := c.GetACL(ctx, "INBOX"); !slices.ContainsFunc(acl, func(e imapclient.ACLEntry) bool {
			return e.Identifier == grantee.Name && aclSortRights(e.Rights) == "lrw"
		}) {
			t.Fatalf("the grantee changed its own rights: %v", acl)
		}

		if err := c.DeleteACL(ctx, "INBOX", grantee.Name); err != nil {
			t.Fatal(err)
		}
		acl, err = c.GetACL(ctx, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := aclRightsOf(acl, grantee.Name); ok {
			t.Fatalf("after DELETEACL: %v", acl)
		}
		// A new session: Dovecot caches ACLs in a session (acl_cache_secs).
		g = login(t, s, grantee, imapclient.Options{})
		aclWantNo(t, "grantee EXAMINE after DELETEACL", firstErr(g.Select(ctx, shared, true)))
	})
}

func firstErr[T any](_ T, err error) error { return err }

func TestACLErrors(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		ctx := ctxT(t)
		u := s.NewUser(t)
		c := login(t, s, u, imapclient.Options{})
		se := aclWantNo(t, "GETACL of a missing mailbox", firstErr(c.GetACL(ctx, "NoSuchMailbox")))
		if s.Kind == "dovecot" && !se.HasCode(imapwire.CodeNonExistent) {
			t.Errorf("Dovecot's NO has no NONEXISTENT: %v", se)
		}
		// Dovecot answers MYRIGHTS of a missing mailbox with the rights the
		// user would have on it; Cyrus refuses.
		rights, err := c.MyRights(ctx, "NoSuchMailbox")
		if s.Kind == "dovecot" {
			if err != nil || !strings.Contains(rights, "a") {
				t.Errorf("Dovecot MYRIGHTS of a missing mailbox: %q, %v", rights, err)
			}
		} else {
			aclWantNo(t, "MYRIGHTS of a missing mailbox", err)
		}
		var argErr *imapwire.ArgumentError
		if err := c.SetACL(ctx, "INBOX\r\nX", "someone", "lr"); !errors.As(err, &argErr) {
			t.Errorf("mailbox with CRLF: %v, want an ArgumentError", err)
		}
		if err := c.SetACL(ctx, "INBOX", "some\x00one", "lr"); !errors.As(err, &argErr) {
			t.Errorf("identifier with NUL: %v, want an ArgumentError", err)
		}
		if err := c.DeleteACL(ctx, "INBOX", "a\x00b"); !errors.As(err, &argErr) {
			t.Errorf("identifier with NUL: %v, want an ArgumentError", err)
		}
		// The refusals sent nothing: the connection is in step.
		if _, err := c.MyRights(ctx, "INBOX"); err != nil {
			t.Fatal(err)
		}
	})
}

// quotaFind returns the resource called name.
func quotaFind(res []imapclient.QuotaResource, name string) (imapclient.QuotaResource, bool) {
	for _, r := range res {
		if r.Name == name {
			return r, true
		}
	}
	return imapclient.QuotaResource{}, false
}

func TestQuotaUsageGrows(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		ctx := ctxT(t)
		u := s.NewUser(t)
		c := login(t, s, u, imapclient.Options{})
		wantRoot := map[string]string{"dovecot": "User quota", "cyrus": "INBOX"}[s.Kind]

		before, err := c.GetQuotaRoot(ctx, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		if len(before) != 1 || before[0].Root != wantRoot {
			t.Fatalf("GETQUOTAROOT INBOX = %+v, want the root %q", before, wantRoot)
		}
		storage, ok := quotaFind(before[0].Resources, "STORAGE")
		if !ok || storage.Usage != 0 || storage.Limit != uint64(test.DefaultQuota.StorageKiB) {
			t.Fatalf("STORAGE before seeding: %+v", before[0].Resources)
		}

		body := []byte("Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdef", 400) + "\r\n")
		s.Seed(t, u, "INBOX", test.Message{Body: body}, test.Message{Body: body}, test.Message{Body: body})
		var total int64
		for _, m := range s.Messages(t, u, "INBOX") {
			total += m.Size
		}
		after, err := c.GetQuotaRoot(ctx, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		storage, _ = quotaFind(after[0].Resources, "STORAGE")
		messages, _ := quotaFind(after[0].Resources, "MESSAGE")
		// Cyrus rounds its KiB down, Dovecot up.
		wantKiB := uint64(total / 1024)
		if s.Kind == "dovecot" {
			wantKiB = uint64((total + 1023) / 1024)
		}
		if storage.Usage != wantKiB || messages.Usage != 3 || messages.Limit != uint64(test.DefaultQuota.Messages) {
			t.Fatalf("after seeding %d bytes in 3 messages: %+v, want STORAGE usage %d", total, after[0].Resources, wantKiB)
		}

		// Dovecot lets the user GETQUOTA the root; Cyrus keeps GETQUOTA to
		// its admins, so its users learn their quota from GETQUOTAROOT.
		res, err := c.GetQuota(ctx, wantRoot)
		if s.Kind == "cyrus" {
			aclWantNo(t, "Cyrus GETQUOTA by the user", err)
			admin := login(t, s, s.Admin, imapclient.Options{})
			wantRoot = "user." + u.Name
			res, err = admin.GetQuota(ctx, wantRoot)
		}
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(res, after[0].Resources) {
			t.Fatalf("GETQUOTA %q = %+v, GETQUOTAROOT said %+v", wantRoot, res, after[0].Resources)
		}
		aclWantNo(t, "GETQUOTA of a missing root", firstErr(c.GetQuota(ctx, "no such root")))
		// Dovecot answers GETQUOTAROOT of a missing mailbox with the root it
		// would have; Cyrus refuses.
		missing, err := c.GetQuotaRoot(ctx, "NoSuchMailbox")
		if s.Kind == "dovecot" {
			if err != nil || len(missing) != 1 || missing[0].Root != wantRoot {
				t.Errorf("Dovecot GETQUOTAROOT of a missing mailbox: %+v, %v", missing, err)
			}
		} else {
			aclWantNo(t, "GETQUOTAROOT of a missing mailbox", err)
		}
		// Users may not change their own quota on either server, nor may
		// Dovecot's master user: Dovecot has no IMAP admin for quotas.
		aclWantNo(t, "SETQUOTA by the user", c.SetQuota(ctx, after[0].Root, map[string]uint64{"STORAGE": 1 << 30}))
		if s.Kind == "dovecot" {
			master := login(t, s, test.User{Name: u.Name + "*" + s.Admin.Name, Password: s.Admin.Password}, imapclient.Options{})
			aclWantNo(t, "SETQUOTA by the master user", master.SetQuota(ctx, wantRoot, map[string]uint64{"STORAGE": 1 << 30}))
		}
	})
}

func TestQuotaSetByAdmin(t *testing.T) {
	s := test.SharedCyrus(t)
	ctx := ctxT(t)
	u := s.NewUser(t)
	admin := login(t, s, s.Admin, imapclient.Options{})
	root := "user." + u.Name
	if err := admin.SetQuota(ctx, root, map[string]uint64{"STORAGE": 5000, "MESSAGE": 42}); err != nil {
		t.Fatal(err)
	}
	// The user sees the new limits (through GETQUOTAROOT: Cyrus refuses
	// GETQUOTA to users).
	c := login(t, s, u, imapclient.Options{})
	roots, err := c.GetQuotaRoot(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	want := []imapclient.QuotaResource{{Name: "STORAGE", Usage: 0, Limit: 5000}, {Name: "MESSAGE", Usage: 0, Limit: 42}}
	if len(roots) != 1 || roots[0].Root != "INBOX" || !slices.Equal(roots[0].Resources, want) {
		t.Fatalf("the user's GETQUOTAROOT INBOX = %+v, want INBOX %+v", roots, want)
	}
	// Limits left out are removed.
	if err := admin.SetQuota(ctx, root, map[string]uint64{"STORAGE": 7000}); err != nil {
		t.Fatal(err)
	}
	if res, err := admin.GetQuota(ctx, root); err != nil || !slices.Equal(res, []imapclient.QuotaResource{{Name: "STORAGE", Limit: 7000}}) {
		t.Fatalf("admin GETQUOTA %s = %+v, %v", root, res, err)
	}
	if err := admin.SetQuota(ctx, root, nil); err != nil {
		t.Fatal(err)
	}
	if res, err := admin.GetQuota(ctx, root); err != nil || len(res) != 0 || res == nil {
		t.Fatalf("after removing every limit: %+v, %v", res, err)
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		ctx := ctxT(t)
		u := s.NewUser(t)
		c := login(t, s, u, imapclient.Options{})
		eightBit := make([]byte, 0, 255)
		for b := 1; b < 256; b++ {
			eightBit = append(eightBit, byte(b))
		}
		set := map[string][]byte{
			"/private/comment":            []byte("plain words"),
			"/shared/comment":             []byte("Grüße, 日本語 ✓"),
			"/private/vendor/imapfs/crlf": []byte("line one\r\nline two\nlast"),
			"/private/vendor/imapfs/8bit": eightBit,
		}
		if err := c.SetMetadata(ctx, "INBOX", set); err != nil {
			t.Fatal(err)
		}
		// NUL is refused before anything is sent (neither server stores it),
		// even after values that go as literals, and the connection lives on.
		withNUL := map[string][]byte{"/private/vendor/imapfs/crlf": []byte("x\r\ny"), "/private/vendor/imapfs/nul": []byte("a\x00b")}
		var argErr *imapwire.ArgumentError
		if err := c.SetMetadata(ctx, "INBOX", withNUL); !errors.As(err, &argErr) {
			t.Fatalf("a value with NUL: %v, want an ArgumentError", err)
		}
		names := []string{"/private/nothing"}
		for name := range set {
			names = append(names, name)
		}
		md, err := c.GetMetadata(ctx, "INBOX", names, nil)
		if err != nil {
			t.Fatal(err)
		}
		for name, want := range set {
			if got, ok := md.Entries[name]; !ok || !bytes.Equal(got, want) {
				t.Errorf("%s = %q (present %v), want %q", name, got, ok, want)
			}
		}
		if len(md.Entries) != len(set) {
			t.Errorf("GETMETADATA returned %d entries, want %d: %q", len(md.Entries), len(set), md.Entries)
		}
		if s.Kind == "dovecot" {
			out := s.Doveadm(t, "mailbox", "metadata", "get", "-u", u.Name, "INBOX", "/private/comment")
			if strings.TrimSpace(out) != "plain words" {
				t.Errorf("doveadm sees /private/comment = %q", out)
			}
		}

		// An empty value: Dovecot keeps it, Cyrus takes it as a removal.
		if err := c.SetMetadata(ctx, "INBOX", map[string][]byte{"/shared/vendor/imapfs/empty": {}}); err != nil {
			t.Fatal(err)
		}
		md, err = c.GetMetadata(ctx, "INBOX", []string{"/shared/vendor/imapfs/empty"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if empty, ok := md.Entries["/shared/vendor/imapfs/empty"]; ok != (s.Kind == "dovecot") || len(empty) != 0 {
			t.Errorf("an empty value came back as %q (present %v)", empty, ok)
		}

		// Removing.
		if err := c.SetMetadata(ctx, "INBOX", map[string][]byte{"/private/comment": nil}); err != nil {
			t.Fatal(err)
		}
		md, err = c.GetMetadata(ctx, "INBOX", []string{"/private/comment", "/shared/comment"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := md.Entries["/private/comment"]; ok || len(md.Entries) != 1 {
			t.Fatalf("after removing /private/comment: %q", md.Entries)
		}
	})
}

func TestMetadataServerDepthMaxSize(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		ctx := ctxT(t)
		u := s.NewUser(t)
		c := login(t, s, u, imapclient.Options{})

		// Server entries.
		if err := c.SetMetadata(ctx, "", map[string][]byte{"/private/comment": []byte("on the server")}); err != nil {
			t.Fatal(err)
		}
		md, err := c.GetMetadata(ctx, "", []string{"/private/comment"}, nil)
		if err != nil || string(md.Entries["/private/comment"]) != "on the server" {
			t.Fatalf("server /private/comment: %+v, %v", md, err)
		}
		if md, err := c.GetMetadata(ctx, "INBOX", []string{"/private/comment"}, nil); err != nil || len(md.Entries) != 0 {
			t.Fatalf("the server's entry leaked to INBOX: %+v, %v", md, err)
		}
		// Shared server entries belong to the administrators: Dovecot says
		// NO [CANNOT], Cyrus NO.
		se := aclWantNo(t, "a user setting /shared/comment on the server", c.SetMetadata(ctx, "", map[string][]byte{"/shared/comment": []byte("x")}))
		if s.Kind == "dovecot" && !se.HasCode(imapwire.CodeCannot) {
			t.Errorf("Dovecot's NO has no CANNOT: %v", se)
		}

		tree := map[string][]byte{
			"/private/vendor/imapfs/a":   []byte("1"),
			"/private/vendor/imapfs/b":   []byte("22"),
			"/private/vendor/imapfs/b/c": []byte("a longer value"),
		}
		if err := c.SetMetadata(ctx, "INBOX", tree); err != nil {
			t.Fatal(err)
		}
		top := []string{"/private/vendor/imapfs"}
		for _, tc := range []struct {
			opts *imapclient.MetadataOptions
			want []string
			long uint64
		}{
			{nil, nil, 0},
			{&imapclient.MetadataOptions{Depth: imapclient.MetadataDepthOne}, []string{"/private/vendor/imapfs/a", "/private/vendor/imapfs/b"}, 0},
			{&imapclient.MetadataOptions{Depth: imapclient.MetadataDepthInfinity}, []string{"/private/vendor/imapfs/a", "/private/vendor/imapfs/b", "/private/vendor/imapfs/b/c"}, 0},
			{&imapclient.MetadataOptions{Depth: imapclient.MetadataDepthInfinity, MaxSize: 2}, []string{"/private/vendor/imapfs/a", "/private/vendor/imapfs/b"}, 14},
		} {
			md, err := c.GetMetadata(ctx, "INBOX", top, tc.opts)
			if err != nil {
				t.Fatalf("%+v: %v", tc.opts, err)
			}
			var got []string
			for name, value := range md.Entries {
				got = append(got, name)
				if !bytes.Equal(value, tree[name]) {
					t.Errorf("%+v: %s = %q", tc.opts, name, value)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) || md.LongEntries != tc.long {
				t.Errorf("%+v: entries %q, LONGENTRIES %d; want %q, %d", tc.opts, got, md.LongEntries, tc.want, tc.long)
			}
		}
	})
}

func TestMetadataErrors(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		ctx := ctxT(t)
		u := s.NewUser(t)
		c := login(t, s, u, imapclient.Options{})
		aclWantNo(t, "GETMETADATA of a missing mailbox", firstErr(c.GetMetadata(ctx, "NoSuchMailbox", []string{"/private/comment"}, nil)))
		aclWantNo(t, "SETMETADATA of a missing mailbox", c.SetMetadata(ctx, "NoSuchMailbox", map[string][]byte{"/private/comment": []byte("x")}))
		if err := c.SetMetadata(ctx, "INBOX", map[string][]byte{"/elsewhere": []byte("x")}); !errors.Is(err, imapclient.ErrBad) {
			t.Errorf("an entry outside /private and /shared: %v, want BAD", err)
		}
		var argErr *imapwire.ArgumentError
		if err := c.SetMetadata(ctx, "IN\nBOX", map[string][]byte{"/private/comment": []byte("x")}); !errors.As(err, &argErr) {
			t.Errorf("mailbox with LF: %v, want an ArgumentError", err)
		}
		if _, err := c.GetMetadata(ctx, "INBOX", []string{"/private/a\x00b"}, nil); !errors.As(err, &argErr) {
			t.Errorf("entry with NUL: %v, want an ArgumentError", err)
		}
		if _, err := c.GetMetadata(ctx, "INBOX", []string{"/private/comment"}, &imapclient.MetadataOptions{Depth: "deep"}); err == nil {
			t.Error("a DEPTH that is not 0, 1 or infinity was accepted")
		}
		if err := c.Noop(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func TestAnnotateMoreNotOnTestServers(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		ctx := ctxT(t)
		u := s.NewUser(t)
		c := login(t, s, u, imapclient.Options{})
		if c.Has("ANNOTATEMORE") {
			t.Fatalf("%s announces ANNOTATEMORE: test GetAnnotation against it", s.Kind)
		}
		var ns *imapclient.NotSupportedError
		if _, err := c.GetAnnotation(ctx, "INBOX", []string{"/comment"}, []string{"value.priv"}); !errors.As(err, &ns) || ns.Capability != "ANNOTATEMORE" {
			t.Errorf("GetAnnotation: %v, want NotSupportedError{ANNOTATEMORE}", err)
		}
		if err := c.SetAnnotation(ctx, "INBOX", "/comment", map[string][]byte{"value.priv": []byte("x")}); !errors.Is(err, imapclient.ErrNotSupported) {
			t.Errorf("SetAnnotation: %v, want ErrNotSupported", err)
		}
		// What the servers do with the command itself: Cyrus (which
		// announces ANNOTATE-EXPERIMENT-1, per-message annotations) keeps
		// the legacy command off, Dovecot does not know it.
		_, done, _ := s.Session(t, u).Run(`GETANNOTATION INBOX "/comment" "value.priv"`)
		want := map[string]string{"cyrus": "NO", "dovecot": "BAD"}[s.Kind]
		if !strings.HasPrefix(done, want+" ") {
			t.Errorf("raw GETANNOTATION: %q, want %s", done, want)
		}
		if s.Kind == "cyrus" && !c.Has("ANNOTATE-EXPERIMENT-1") {
			t.Error("Cyrus no longer announces ANNOTATE-EXPERIMENT-1")
		}
	})
}

// TestAnnotateMoreWire checks GetAnnotation and SetAnnotation against a
// scripted server speaking the draft's examples, as no test server offers
// ANNOTATEMORE.
func TestAnnotateMoreWire(t *testing.T) {
	client, server := net.Pipe()
	script := []struct{ command, answer string }{
		{`GETANNOTATION INBOX ("/comment" "/vendor/x") ("value.priv" "value.shared")`,
			"* ANNOTATION INBOX \"/comment\" (\"value.priv\" \"My comment\" \"value.shared\" NIL)\r\n" +
				"* ANNOTATION INBOX \"/vendor/x\" (\"value.priv\" {5}\r\na\r\nb\n \"value.shared\" \"s\")\r\n"},
		{`GETANNOTATION "*" ("/comment") ("value.shared")`,
			"* ANNOTATION \"&AMk-t&AOk-\" \"/comment\" (\"value.shared\" \"summer\")\r\n"},
		{`SETANNOTATION INBOX "/comment" ("value.priv" "new" "value.shared" NIL)`, ""},
	}
	errc := make(chan error, 1)
	go func() {
		defer server.Close()
		r := bufio.NewReader(server)
		fmt.Fprint(server, "* OK [CAPABILITY IMAP4rev1 LITERAL+ ANNOTATEMORE] scripted\r\n")
		for _, step := range script {
			line, err := r.ReadString('\n')
			if err != nil {
				errc <- err
				return
			}
			tag, cmd, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
			if cmd != step.command {
				fmt.Fprintf(server, "%s BAD unexpected\r\n", tag)
				errc <- fmt.Errorf("got %q, want %q", cmd, step.command)
				return
			}
			fmt.Fprintf(server, "%s%s OK done\r\n", step.answer, tag)
		}
		errc <- nil
	}()
	ctx := ctxT(t)
	c, err := imapclient.New(ctx, client, imapclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := c.GetAnnotation(ctx, "INBOX", []string{"/comment", "/vendor/x"}, []string{"value.priv", "value.shared"})
	if err != nil {
		t.Fatal(err)
	}
	want := []imapclient.Annotation{
		{Mailbox: "INBOX", Entry: "/comment", Values: map[string][]byte{"value.priv": []byte("My comment")}},
		{Mailbox: "INBOX", Entry: "/vendor/x", Values: map[string][]byte{"value.priv": []byte("a\r\nb\n"), "value.shared": []byte("s")}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("GetAnnotation = %q, want %q", got, want)
	}
	got, err = c.GetAnnotation(ctx, "*", []string{"/comment"}, []string{"value.shared"})
	if err != nil || len(got) != 1 || got[0].Mailbox != "Été" || string(got[0].Values["value.shared"]) != "summer" {
		t.Fatalf("GetAnnotation * = %q, %v", got, err)
	}
	if err := c.SetAnnotation(ctx, "INBOX", "/comment", map[string][]byte{"value.shared": nil, "value.priv": []byte("new")}); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
