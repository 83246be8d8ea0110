package cache

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"testing"
	"time"
)

func key(uid uint32) BodyKey { return BodyKey{Mailbox: "INBOX", UIDValidity: 7, UID: uid} }

func TestBodiesBoundedInBytes(t *testing.T) {
	c := NewBodies(100)
	for uid := uint32(1); uid <= 10; uid++ {
		c.Add(key(uid), bytes.Repeat([]byte{'x'}, 30))
		if c.Bytes() > 100 {
			t.Fatalf("after UID %d: %d bytes cached, bound 100", uid, c.Bytes())
		}
	}
	if c.Bytes() != 90 {
		t.Errorf("%d bytes cached, want 90 (three bodies of 30)", c.Bytes())
	}
	for uid := uint32(1); uid <= 7; uid++ {
		if _, ok := c.Get(key(uid)); ok {
			t.Errorf("UID %d still cached; only the 3 most recent fit", uid)
		}
	}
	if b, ok := c.Get(key(10)); !ok || len(b) != 30 {
		t.Errorf("UID 10: %q, %v", b, ok)
	}
}

func TestBodiesRecencyAndReplace(t *testing.T) {
	c := NewBodies(60)
	c.Add(key(1), make([]byte, 20))
	c.Add(key(2), make([]byte, 20))
	c.Add(key(3), make([]byte, 20))
	c.Get(key(1)) // now 2 is the least recently used
	c.Add(key(4), make([]byte, 20))
	if _, ok := c.Get(key(2)); ok {
		t.Error("UID 2 should have been evicted first")
	}
	c.Add(key(1), make([]byte, 5)) // replacing must not count twice
	if c.Bytes() != 45 {
		t.Errorf("%d bytes, want 45", c.Bytes())
	}
}

func TestBodiesTooLargeNotKept(t *testing.T) {
	c := NewBodies(10)
	c.Add(key(1), make([]byte, 5))
	c.Add(key(2), make([]byte, 11))
	if _, ok := c.Get(key(2)); ok || c.Bytes() != 5 {
		t.Errorf("oversized body kept: %d bytes", c.Bytes())
	}
}

func TestBodiesRemoveMailbox(t *testing.T) {
	c := NewBodies(1000)
	c.Add(BodyKey{"INBOX", 1, 1, 0}, make([]byte, 10))
	c.Add(BodyKey{"INBOX", 2, 1, 0}, make([]byte, 10))
	c.Add(BodyKey{"Other", 1, 1, 0}, make([]byte, 10))
	c.RemoveMailbox("INBOX", 2)
	if _, ok := c.Get(BodyKey{"INBOX", 1, 1, 0}); ok {
		t.Error("body of an old UIDVALIDITY survived")
	}
	for _, k := range []BodyKey{{"INBOX", 2, 1, 0}, {"Other", 1, 1, 0}} {
		if _, ok := c.Get(k); !ok {
			t.Errorf("%v removed", k)
		}
	}
	c.Remove(BodyKey{"Other", 1, 1, 0})
	if c.Bytes() != 10 {
		t.Errorf("%d bytes, want 10", c.Bytes())
	}
}

// A walk's prefetches of a mailbox reach the server in the order the walk
// asked for them, which is the order its reader wants them in: the
// server answers pipelined commands in the order it gets them.
func TestPrefetchesSentInTheirOrder(t *testing.T) {
	mb := &scriptedMailbox{}
	mb.set(seq(1, 40))
	s := scriptedStore(t, mb)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.Listing(ctx, "INBOX"); err != nil {
		t.Fatal(err)
	}
	var want []string
	for uid := uint32(1); uid <= 40; uid++ {
		s.Prefetch("INBOX", 7, []uint32{uid})
		want = append(want, strconv.Itoa(int(uid)))
	}
	for {
		mb.mu.Lock()
		got := slices.Clone(mb.bodySets)
		mb.mu.Unlock()
		if len(got) == len(want) {
			if !slices.Equal(got, want) {
				t.Errorf("prefetches reached the server in the order %v, want %v", got, want)
			}
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("the server got %d of %d prefetches: %v", len(got), len(want), got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
