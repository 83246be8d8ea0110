package imapclient_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"imapfs/imapclient"
	"imapfs/imapclient/imapwire"
	"imapfs/test"
)

// imaplib's response, Int2AP and uid(command, ...).

func TestInt2AP(t *testing.T) {
	for n, want := range map[uint64]string{0: "", 1: "B", 15: "P", 16: "BA", 4096: "BAAA", 65535: "PPPP", 0x1234: "BCDE"} {
		if got := imapclient.Int2AP(n); got != want {
			t.Errorf("Int2AP(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestResponse(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		seedMessages(t, s, u, 3)
		c := login(t, s, u, imapclient.Options{})
		ctx := ctxT(t)
		mbox, err := c.Select(ctx, "INBOX", false)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Response("exists"); !slices.Equal(got, []imapclient.Update{imapclient.ExistsUpdate{N: 3}}) {
			t.Errorf("Response(EXISTS) after SELECT: %v", got)
		}
		if got := c.Response("EXISTS"); got != nil {
			t.Errorf("Response(EXISTS) again: %v", got)
		}
		uidValidity := c.Response("UIDVALIDITY")
		if len(uidValidity) != 1 {
			t.Fatalf("Response(UIDVALIDITY): %v", uidValidity)
		}
		if st, ok := uidValidity[0].(imapclient.StatusUpdate); !ok || st.Type != "OK" || st.Code.Number != uint64(mbox.UIDValidity) {
			t.Errorf("Response(UIDVALIDITY): %+v", uidValidity[0])
		}
		// The untagged OK is kept under its type too.
		if !slices.ContainsFunc(c.Response("OK"), func(upd imapclient.Update) bool {
			st, ok := upd.(imapclient.StatusUpdate)
			return ok && st.Code != nil && st.Code.Name == imapwire.CodeUIDValidity
		}) {
			t.Error("Response(OK) lacks the UIDVALIDITY response")
		}

		seedMessages(t, s, u, 1)
		if err := c.Noop(ctx); err != nil {
			t.Fatal(err)
		}
		if got := c.Response("EXISTS"); !slices.Equal(got, []imapclient.Update{imapclient.ExistsUpdate{N: 4}}) {
			t.Errorf("Response(EXISTS) after a delivery: %v", got)
		}
	})
}

// What Response keeps of one name is bounded; the latest are kept.
func TestResponseBounded(t *testing.T) {
	c, conn, r := scriptedGreetingServer(t, "* PREAUTH [CAPABILITY IMAP4rev1] ready")
	done := make(chan error, 1)
	go func() { done <- c.Noop(ctxT(t)) }()
	capsExpect(t, conn, r, "T1 NOOP\r\n")
	var script strings.Builder
	for i := 1; i <= 100; i++ {
		fmt.Fprintf(&script, "* %d EXISTS\r\n", i)
	}
	fmt.Fprintf(conn, "%sT1 OK done\r\n", script.String())
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := c.Response("EXISTS")
	if len(got) != 64 || got[0] != (imapclient.ExistsUpdate{N: 37}) || got[63] != (imapclient.ExistsUpdate{N: 100}) {
		t.Errorf("kept %d: %v ... %v", len(got), got[0], got[len(got)-1])
	}
}

func TestUIDByName(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		seedMessages(t, s, u, 3)
		archive := s.Personal("Archive")
		s.CreateMailbox(t, u, archive)
		var uids []uint32
		for _, m := range s.Messages(t, u, "INBOX") {
			uids = append(uids, m.UID)
		}
		c := login(t, s, u, imapclient.Options{})
		ctx := ctxT(t)
		if _, err := c.Select(ctx, "INBOX", false); err != nil {
			t.Fatal(err)
		}
		atom := func(s string) imapwire.Value { return imapwire.Value{Kind: imapwire.KindAtom, Text: s} }
		num := func(n uint32) imapwire.Value { return imapwire.Value{Kind: imapwire.KindNumber, Number: uint64(n)} }
		list := func(vs ...imapwire.Value) imapwire.Value { return imapwire.Value{Kind: imapwire.KindList, List: vs} }
		numbers := func(v imapwire.Value) []uint32 {
			var nums []uint32
			for _, e := range v.List {
				if e.Kind == imapwire.KindNumber {
					nums = append(nums, uint32(e.Number))
				}
			}
			return nums
		}

		res, err := c.UID(ctx, "search", atom("ALL"))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Data) != 1 || !slices.Equal(numbers(res.Data[0]), uids) {
			t.Errorf("UID SEARCH ALL: %v, want %v", res.Data, uids)
		}

		res, err = c.UID(ctx, "FETCH", atom("1:*"), list(atom("FLAGS")))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Messages) != 3 || res.Messages[0].UID != uids[0] || !slices.Contains(res.Messages[0].Flags, imapclient.FlagFlagged) {
			t.Errorf("UID FETCH: %+v", res.Messages)
		}

		res, err = c.UID(ctx, "STORE", num(uids[1]), atom("+FLAGS"), list(atom(`\Deleted`)))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Messages) != 1 || res.Messages[0].UID != uids[1] || !slices.Contains(res.Messages[0].Flags, imapclient.FlagDeleted) {
			t.Errorf("UID STORE: %+v", res.Messages)
		}

		res, err = c.UID(ctx, "COPY", num(uids[0]), imapwire.Value{Kind: imapwire.KindString, Text: archive})
		if err != nil {
			t.Fatal(err)
		}
		if res.CopyUID == nil || !slices.Equal(slices.Collect(res.CopyUID.Source.All()), uids[:1]) {
			t.Errorf("UID COPY: %+v", res.CopyUID)
		}

		res, err = c.UID(ctx, "MOVE", num(uids[2]), imapwire.Value{Kind: imapwire.KindString, Text: archive})
		if err != nil {
			t.Fatal(err)
		}
		if res.CopyUID == nil || !slices.Equal(slices.Collect(res.CopyUID.Source.All()), uids[2:]) || !slices.Equal(res.Expunged.Seqs, []uint32{3}) {
			t.Errorf("UID MOVE: %+v", res)
		}

		res, err = c.UID(ctx, "expunge", num(uids[1]))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(res.Expunged.Seqs, []uint32{2}) {
			t.Errorf("UID EXPUNGE: %+v", res.Expunged)
		}

		res, err = c.UID(ctx, "SORT", list(atom("REVERSE"), atom("DATE")), atom("UTF-8"), atom("ALL"))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Data) != 1 || !slices.Equal(numbers(res.Data[0]), uids[:1]) {
			t.Errorf("UID SORT: %v", res.Data)
		}

		res, err = c.UID(ctx, "THREAD", atom("REFERENCES"), atom("UTF-8"), atom("ALL"))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Data) != 1 || len(res.Data[0].List) != 1 || !slices.Equal(numbers(res.Data[0].List[0]), uids[:1]) {
			t.Errorf("UID THREAD: %v", res.Data)
		}

		if _, err := c.UID(ctx, "THREAD", atom("NOSUCHALGORITHM"), atom("UTF-8"), atom("ALL")); !errors.Is(err, imapclient.ErrNotSupported) {
			t.Errorf("UID THREAD with an algorithm the server lacks: %v", err)
		}
		var argErr *imapwire.ArgumentError
		if _, err := c.UID(ctx, "LOGOUT"); !errors.As(err, &argErr) {
			t.Errorf("UID LOGOUT: %v", err)
		}
		if err := c.Noop(ctx); err != nil {
			t.Fatalf("the connection after the refusals: %v", err)
		}
	})
}
