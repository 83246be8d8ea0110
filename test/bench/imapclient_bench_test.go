// Package bench measures imapclient against the harness's real servers.
package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"imapfs/imapclient"
	"imapfs/test"
)

func TestMain(m *testing.M) { test.Main(m) }

// benchBodySize is the size of the message both benchmarks fetch.
const benchBodySize = 50 << 20

// benchBody is one 50 MB message, built once: a header, then lines of
// text ending in CRLF, cut to exactly benchBodySize.
var benchBody = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	b.Grow(benchBodySize + 128)
	b.WriteString("From: bench@example.org\r\nTo: bench@example.org\r\nSubject: 50 MB\r\n" +
		"Content-Type: text/plain; charset=us-ascii\r\n\r\n")
	line := strings.Repeat("0123456789abcdef", 4) + "\r\n"
	for b.Len() < benchBodySize {
		b.WriteString(line)
	}
	body := b.Bytes()[:benchBodySize-2]
	return append(body, "\r\n"...)
})

// benchSession seeds the 50 MB message into a fresh user on the shared
// Dovecot and returns a client logged in over implicit TLS with INBOX
// selected read-only, and the message's UID.
func benchSession(b *testing.B) (*imapclient.Client, uint32) {
	b.Helper()
	s := test.SharedDovecot(b)
	u := s.NewUser(b)
	uid := s.Seed(b, u, "INBOX", test.Message{Body: benchBody()})[0]
	pem, err := os.ReadFile(s.TLS.CAFile)
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := imapclient.DialTLS(ctx, s.TLSAddr(), &tls.Config{RootCAs: pool}, imapclient.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	if err := c.Login(ctx, u.Name, u.Password); err != nil {
		b.Fatal(err)
	}
	if _, err := c.Select(ctx, "INBOX", true); err != nil {
		b.Fatal(err)
	}
	return c, uid
}

// benchHeapPeak samples HeapInuse every few milliseconds while it runs
// and reports the highest value seen above the starting point.
type benchHeapPeak struct {
	base, peak atomic.Uint64
	stop       chan struct{}
	done       chan struct{}
}

func benchStartHeapPeak() *benchHeapPeak {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p := &benchHeapPeak{stop: make(chan struct{}), done: make(chan struct{})}
	p.base.Store(ms.HeapInuse)
	p.peak.Store(ms.HeapInuse)
	go func() {
		defer close(p.done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > p.peak.Load() {
				p.peak.Store(ms.HeapInuse)
			}
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

// growth stops sampling and returns the peak growth in bytes.
func (p *benchHeapPeak) growth() uint64 {
	close(p.stop)
	<-p.done
	return p.peak.Load() - p.base.Load()
}

// benchFetch runs fetch b.N times and reports throughput, allocations
// (B/op) and the largest heap growth seen during one fetch.
func benchFetch(b *testing.B, fetch func(ctx context.Context) int64) {
	b.SetBytes(benchBodySize)
	b.ReportAllocs()
	var maxGrowth uint64
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		p := benchStartHeapPeak()
		n := fetch(ctx)
		maxGrowth = max(maxGrowth, p.growth())
		cancel()
		if n != benchBodySize {
			b.Fatalf("fetched %d bytes, want %d", n, benchBodySize)
		}
	}
	b.ReportMetric(float64(maxGrowth), "peak-heap-bytes/op")
}

// BenchmarkUIDFetchBody50MB streams the message into io.Discard: the
// buffering needed should be a few chunks, not the message.
func BenchmarkUIDFetchBody50MB(b *testing.B) {
	c, uid := benchSession(b)
	benchFetch(b, func(ctx context.Context) int64 {
		n, err := c.UIDFetchBody(ctx, uid, "", 0, -1, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		return n
	})
}

// BenchmarkUIDFetchBody50MBInMemory is the baseline: BODY.PEEK[] read
// into memory with UIDFetch.
func BenchmarkUIDFetchBody50MBInMemory(b *testing.B) {
	c, uid := benchSession(b)
	var set imapclient.SeqSet
	set.AddNum(uid)
	benchFetch(b, func(ctx context.Context) int64 {
		msgs, err := c.UIDFetch(ctx, set, []string{"BODY.PEEK[]"}, nil)
		if err != nil {
			b.Fatal(err)
		}
		if len(msgs) != 1 {
			b.Fatalf("%d messages", len(msgs))
		}
		body, _ := msgs[0].Section("BODY[]")
		return int64(len(body))
	})
}
