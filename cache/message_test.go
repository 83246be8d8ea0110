package cache

import (
	"context"
	"runtime"
	"slices"
	"testing"
	"time"
)

// A listing holds 32 bytes a message, whatever the mailbox's size and
// flags: a mailbox of 100,000 messages must not cost 100 MB.
func TestListingMemoryPerMessage(t *testing.T) {
	const n = 20000
	mb := &scriptedMailbox{flags: `\Seen $Label1`}
	mb.set(seq(1, n))
	s := scriptedStore(t, mb)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	l, err := s.Listing(context.Background(), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	t.Logf("%d messages listed: %d bytes a message held, %d allocated on the way", n, held, (after.TotalAlloc-before.TotalAlloc)/n)
	if len(l.Messages) != n {
		t.Fatalf("%d messages listed, want %d", len(l.Messages), n)
	}
	if held > 48 {
		t.Errorf("a listing holds %d bytes a message, want at most 48 (32 and what the scripted server holds)", held)
	}
	m := l.Messages[n-1]
	if !slices.Equal(m.Flags(), []string{`\Seen`, "$Label1"}) || !m.Date().Equal(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)) || m.Size != 100+n {
		t.Errorf("the last message is listed with flags %q, date %v, size %d", m.Flags(), m.Date(), m.Size)
	}
	runtime.KeepAlive(l)
}

// A date keeps its zone, a flag list its order; the same lists are one.
func TestMessageKeepsDateZoneAndFlags(t *testing.T) {
	date := time.Date(2024, 2, 29, 23, 59, 58, 0, time.FixedZone("", -(5*3600+30*60)))
	m := NewMessage(7, 1234, date, []string{`\Flagged`, `\Seen`})
	if got := m.Date(); !got.Equal(date) || got.Format("-0700") != "-0530" {
		t.Errorf("date %v, want %v in its zone", got, date)
	}
	if !slices.Equal(m.Flags(), []string{`\Flagged`, `\Seen`}) {
		t.Errorf("flags %q", m.Flags())
	}
	if o := NewMessage(8, 1, date, []string{`\Flagged`, `\Seen`}); o.flags != m.flags {
		t.Errorf("the same flags are two lists")
	}
	if o := NewMessage(8, 1, date, []string{`\Seen`, `\Flagged`}); slices.Equal(o.Flags(), m.Flags()) {
		t.Errorf("flags in another order are the same list")
	}
	if e := NewMessage(9, 1, date, nil); len(e.Flags()) != 0 || e.flags != NewMessage(9, 1, date, []string{}).flags {
		t.Errorf("no flags: %q", e.Flags())
	}
}
