package imapclient_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"imapfs/imapclient"
)

// A context from WithIdleTimeout lets a transfer take as long as its
// bytes keep moving, both ways: an answer that trickles in for several
// times the timeout, and an APPEND the server reads slowly, succeed. When
// nothing moves, the call fails with context.DeadlineExceeded.
func TestIdleTimeout(t *testing.T) {
	const idle = time.Second
	const pieces, pause = 8, idle / 4 // twice the timeout in all
	body := []byte(strings.Repeat("0123456789abcdef", pieces))

	t.Run("read trickling in", func(t *testing.T) {
		c, s := newRoutingServer(t, "", imapclient.Options{})
		ctx, cancel := imapclient.WithIdleTimeout(ctxT(t), idle)
		defer cancel()
		var buf bytes.Buffer
		done := async(func() error { _, err := c.UIDFetchBody(ctx, 1, "", 0, -1, &buf); return err })
		s.expect("T1 UID FETCH 1 (BODY.PEEK[])\r\n")
		s.send(fmt.Sprintf("* 1 FETCH (UID 1 BODY[] {%d}\r\n", len(body)))
		for i := range pieces {
			time.Sleep(pause)
			s.send(string(body[i*16 : (i+1)*16]))
		}
		s.send(")\r\nT1 OK done\r\n")
		if err := wait(t, done); err != nil || !bytes.Equal(buf.Bytes(), body) {
			t.Fatalf("got %q, %v", buf.Bytes(), err)
		}
	})

	t.Run("append read slowly", func(t *testing.T) {
		client, server := net.Pipe()
		t.Cleanup(func() { server.Close() })
		go io.WriteString(server, "* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n")
		c, err := imapclient.New(ctxT(t), client, imapclient.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		ctx, cancel := imapclient.WithIdleTimeout(ctxT(t), idle)
		defer cancel()
		big := bytes.Repeat([]byte("x"), pieces*8<<10)
		done := async(func() error {
			_, err := c.Append(ctx, "INBOX", imapclient.AppendMessage{Size: int64(len(big)), Body: bytes.NewReader(big)})
			return err
		})
		// The pipe holds nothing: each piece the client writes waits for
		// the server to read it.
		read := 0
		buf := make([]byte, 8<<10)
		for read < len(big) {
			time.Sleep(pause)
			n, err := server.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			read += n
		}
		go io.WriteString(server, "T1 OK [APPENDUID 1 1] done\r\n")
		go io.Copy(io.Discard, server)
		if err := wait(t, done); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("stalled", func(t *testing.T) {
		c, s := newRoutingServer(t, "", imapclient.Options{})
		ctx, cancel := imapclient.WithIdleTimeout(ctxT(t), idle)
		defer cancel()
		done := async(func() error { _, err := c.UIDFetchBody(ctx, 1, "", 0, -1, io.Discard); return err })
		s.expect("T1 UID FETCH 1 (BODY.PEEK[])\r\n")
		s.send(fmt.Sprintf("* 1 FETCH (UID 1 BODY[] {%d}\r\n%s", len(body), body[:16]))
		if err := wait(t, done); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("got %v (context: %v), want DeadlineExceeded", err, ctx.Err())
		}
	})
}
