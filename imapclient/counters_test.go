package imapclient_test

import (
	"testing"

	"imapfs/imapclient"
	"imapfs/test"
)

// Counters count every command and byte of the connections sharing them,
// also after STARTTLS.
func TestCounters(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	s.Seed(t, u, "INBOX", test.Message{Body: []byte("Subject: x\r\n\r\nhello\r\n")})
	counters := &imapclient.Counters{}
	c := login(t, s, u, imapclient.Options{Counters: counters})
	ctx := ctxT(t)
	commands, in, out := counters.Commands.Load(), counters.BytesIn.Load(), counters.BytesOut.Load()
	if commands == 0 || in == 0 || out == 0 {
		t.Fatalf("after login: commands=%d in=%d out=%d", commands, in, out)
	}
	if _, err := c.Select(ctx, "INBOX", true); err != nil {
		t.Fatal(err)
	}
	if err := c.Noop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := counters.Commands.Load(); got != commands+2 {
		t.Errorf("SELECT and NOOP counted as %d commands", got-commands)
	}
	if counters.BytesIn.Load() <= in || counters.BytesOut.Load() <= out {
		t.Errorf("bytes did not grow: in %d→%d, out %d→%d", in, counters.BytesIn.Load(), out, counters.BytesOut.Load())
	}
	second := login(t, s, u, imapclient.Options{Counters: counters})
	before := counters.Commands.Load()
	if err := second.Noop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := counters.Commands.Load(); got != before+1 {
		t.Errorf("a second connection's NOOP counted as %d commands", got-before)
	}

	// After STARTTLS the transport changes under the counters.
	upgraded, err := imapclient.DialStartTLS(ctx, s.Addr(), tlsConfig(t, s), imapclient.Options{Counters: counters})
	if err != nil {
		t.Fatal(err)
	}
	defer upgraded.Close()
	before, in = counters.Commands.Load(), counters.BytesIn.Load()
	if err := upgraded.Noop(ctx); err != nil {
		t.Fatal(err)
	}
	if counters.Commands.Load() != before+1 || counters.BytesIn.Load() <= in {
		t.Errorf("a NOOP after STARTTLS: commands %d→%d, bytes in %d→%d", before, counters.Commands.Load(), in, counters.BytesIn.Load())
	}
}
