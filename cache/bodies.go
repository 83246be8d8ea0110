package cache

import (
	"sync"
	"sync/atomic"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// BodyKey names one immutable block of a message body: a UID means the
// same bytes for as long as the mailbox keeps its UIDVALIDITY. Bodies are
// cached in blocks (see BlockSize) so a large message is never held whole.
type BodyKey struct {
	Mailbox     string
	UIDValidity uint32
	UID         uint32
	Block       uint32
}

// Bodies is a memory cache of message bodies bounded in bytes, not entries:
// the least recently used bodies are dropped until the total fits.
type Bodies struct {
	mu    sync.Mutex
	lru   *simplelru.LRU[BodyKey, []byte]
	bytes int64
	max   int64
	hits  atomic.Int64 // Gets that found their body
}

// NewBodies makes a cache holding at most maxBytes of bodies.
func NewBodies(maxBytes int64) *Bodies {
	b := &Bodies{max: maxBytes}
	// The entry limit is never the binding one; bytes are.
	lru, err := simplelru.NewLRU[BodyKey, []byte](1<<31-1, func(_ BodyKey, body []byte) {
		b.bytes -= int64(cap(body))
	})
	if err != nil {
		panic(err) // only for a non-positive size
	}
	b.lru = lru
	return b
}

// Get returns a cached body. The caller must not modify it.
func (b *Bodies) Get(k BodyKey) ([]byte, bool) {
	b.mu.Lock()
	body, ok := b.lru.Get(k)
	b.mu.Unlock()
	if ok {
		b.hits.Add(1)
	}
	return body, ok
}

// Hits is how many Gets found their body.
func (b *Bodies) Hits() int64 { return b.hits.Load() }

// Peek reports whether a block is cached, without making it recent.
func (b *Bodies) Peek(k BodyKey) ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lru.Peek(k)
}

// Add caches a body, evicting older ones to stay within the bound, which
// counts the memory the bodies hold (their capacity). A body larger than
// the whole cache is not kept. The cache keeps body as is: the caller must
// not modify it afterwards.
func (b *Bodies) Add(k BodyKey, body []byte) {
	size := int64(cap(body))
	b.mu.Lock()
	defer b.mu.Unlock()
	if size > b.max {
		b.lru.Remove(k)
		return
	}
	b.lru.Remove(k) // so the accounting never counts a key twice
	b.lru.Add(k, body)
	b.bytes += size
	for b.bytes > b.max {
		b.lru.RemoveOldest()
	}
}

// Remove forgets one body, e.g. after its message was expunged.
func (b *Bodies) Remove(k BodyKey) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lru.Remove(k)
}

// RemoveMessage forgets the blocks of one message of the given size (it
// was expunged).
func (b *Bodies) RemoveMessage(mailbox string, uidValidity, uid uint32, size int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for block := int64(0); block <= size/BlockSize; block++ {
		b.lru.Remove(BodyKey{Mailbox: mailbox, UIDValidity: uidValidity, UID: uid, Block: uint32(block)})
	}
}

// RemoveMailbox forgets every body of a mailbox except those of the given
// UIDVALIDITY, which is what a UIDVALIDITY change (or a deleted or renamed
// mailbox, with keep 0) requires.
func (b *Bodies) RemoveMailbox(mailbox string, keep uint32) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, k := range b.lru.Keys() {
		if k.Mailbox == mailbox && k.UIDValidity != keep {
			b.lru.Remove(k)
		}
	}
}

// Bytes is the memory the cached bodies hold.
func (b *Bodies) Bytes() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bytes
}
