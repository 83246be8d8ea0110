package imapclient_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"imapfs/imapclient"
	"imapfs/test"
)

// CLOSE after EXAMINE is allowed and expunges nothing (RFC 3501 6.4.2):
// the \Deleted message another client flagged survives.
func TestCloseAfterExamine(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		s.Seed(t, u, "INBOX", test.Message{Body: []byte("Subject: keep\r\n\r\nx\r\n"), Flags: []string{`\Deleted`}})
		c := login(t, s, u, imapclient.Options{})
		ctx := ctxT(t)
		if _, err := c.Select(ctx, "INBOX", true); err != nil {
			t.Fatal(err)
		}
		if err := c.CloseMailbox(ctx); err != nil {
			t.Fatalf("CLOSE after EXAMINE: %v", err)
		}
		if st := c.State(); st != imapclient.StateAuthenticated || c.Mailbox() != nil {
			t.Errorf("after CLOSE: state %v, mailbox %+v", st, c.Mailbox())
		}
		stored := s.Messages(t, u, "INBOX")
		if len(stored) != 1 || !slices.Contains(stored[0].Flags, `\Deleted`) {
			t.Errorf("after CLOSE of an EXAMINEd INBOX: %+v", stored)
		}
	})
}

// A SELECTed mailbox that became read-only keeps refusing CLOSE: the
// expunge it asks for would not happen.
func TestCloseAfterSelectBecameReadOnly(t *testing.T) {
	c, conn, r := scriptedGreetingServer(t, "* PREAUTH [CAPABILITY IMAP4rev1] ready")
	done := make(chan error, 1)
	go func() {
		_, err := c.Select(ctxT(t), "INBOX", false)
		done <- err
	}()
	capsExpect(t, conn, r, "T1 SELECT INBOX\r\n")
	fmt.Fprintf(conn, "* OK [READ-ONLY] another session has it\r\nT1 OK [READ-ONLY] selected\r\n")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := c.CloseMailbox(ctxT(t)); !errors.Is(err, imapclient.ErrReadOnly) {
		t.Fatalf("CLOSE of a SELECTed mailbox that became read-only: %v", err)
	}
	greetingExpectNothing(t, conn, r)
}
