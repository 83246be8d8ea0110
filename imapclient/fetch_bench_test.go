package imapclient_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"

	"imapfs/imapclient"
)

// benchListingSize is the number of FETCH responses of one listing in
// BenchmarkListingFetch.
const benchListingSize = 10000

// benchListing is the answer of a server to the FETCH that lists a
// mailbox (cache's metadata items), as Dovecot words it: UID first, a few
// flag lists, dates in one zone.
func benchListing(n int) []byte {
	flags := []string{`\Seen`, `\Seen \Answered`, ``, `\Seen $Forwarded`, `\Flagged \Seen`}
	var b bytes.Buffer
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "* %d FETCH (UID %d RFC822.SIZE %d INTERNALDATE \"%02d-Nov-2026 %02d:%02d:%02d +0100\" FLAGS (%s))\r\n",
			i, i+1000, 1024+i%2048, 1+i%28, i%24, i%60, (i*7)%60, flags[i%len(flags)])
	}
	return b.Bytes()
}

// BenchmarkListingFetch measures what parsing the FETCH responses of a
// listing allocates, per response (allocs/msg, B/msg): their garbage is
// what the RSS of a listed mailbox holds beyond the listing itself
// (docs/performance.md, "Scale"). The server is the other end of a pipe
// with its answer written out beforehand.
func BenchmarkListingFetch(b *testing.B) {
	items := []string{imapclient.FetchUID, imapclient.FetchRFC822Size, imapclient.FetchInternalDate, imapclient.FetchFlags}
	answer := benchListing(benchListingSize)
	client, server := net.Pipe()
	b.Cleanup(func() { server.Close() })
	go func() {
		fmt.Fprintf(server, "* OK [CAPABILITY IMAP4rev1] ready\r\n")
		r := bufio.NewReader(server)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			tag, _, _ := strings.Cut(line, " ")
			server.Write(answer)
			fmt.Fprintf(server, "%s OK done\r\n", tag)
		}
	}()
	ctx := context.Background()
	c, err := imapclient.New(ctx, client, imapclient.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	all, _ := imapclient.ParseSeqSet("1:*")
	var got int
	each := &imapclient.FetchOptions{Each: func(m *imapclient.FetchMessage) {
		if m.UID != 0 && len(m.Flags) < 3 {
			got++
		}
	}}

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		got = 0
		if _, err := c.UIDFetch(ctx, all, items, each); err != nil {
			b.Fatal(err)
		}
		if got != benchListingSize {
			b.Fatalf("%d messages listed, want %d", got, benchListingSize)
		}
	}
	runtime.ReadMemStats(&after)
	n := float64(b.N * benchListingSize)
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/msg")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/n, "B/msg")
}
