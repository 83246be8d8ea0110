package imapclient_test

import (
	"runtime"
	"testing"
	"time"

	"imapfs/imapclient"
	"imapfs/test"
)

// The client lets go of a finished command's answers: a listing of
// 100,000 messages must not stay in memory until the connection's next
// command.
func TestFinishedFetchIsNotHeld(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	seedMessages(t, s, u, 3)
	c := login(t, s, u, imapclient.Options{})
	ctx := ctxT(t)
	if _, err := c.Select(ctx, "INBOX", true); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.UIDFetch(ctx, imapclient.SeqSet{{Start: 1, Stop: imapclient.SeqStar}}, []string{imapclient.FetchUID, imapclient.FetchFlags}, nil)
	if err != nil || len(msgs) != 3 {
		t.Fatalf("UID FETCH: %d messages, %v", len(msgs), err)
	}
	freed := make(chan struct{})
	runtime.SetFinalizer(msgs[0], func(*imapclient.FetchMessage) { close(freed) })
	msgs = nil
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		runtime.GC()
		select {
		case <-freed:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatal("the answers of a finished UID FETCH are still referenced by the client")
}
