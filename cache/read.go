package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"imapfs/imapclient"
)

// blockFetch is a block being fetched; readers of the same block wait for
// the one fetch instead of asking the server again.
type blockFetch struct {
	done chan struct{}
	data []byte
	err  error
	// ctx is the fetch's context: what moves for it is progress for the
	// readers who wait (see imapclient.ShareProgress).
	ctx context.Context
}

// FirstBlock returns the first block of a body (the whole body when it is
// smaller than BlockSize), from the cache or the server.
func (s *Store) FirstBlock(ctx context.Context, mailbox string, uidValidity, uid uint32) ([]byte, error) {
	return s.block(ctx, BodyKey{Mailbox: mailbox, UIDValidity: uidValidity, UID: uid})
}

// CachedFirstBlock returns the first block of a body if the memory cache
// holds it, without asking the server or the disk.
func (s *Store) CachedFirstBlock(mailbox string, uidValidity, uid uint32) ([]byte, bool) {
	return s.bodies.Peek(BodyKey{Mailbox: mailbox, UIDValidity: uidValidity, UID: uid})
}

// Read reads up to length bytes of the body of a message from offset
// off, fetching and caching whole blocks with BODY.PEEK (never setting
// \Seen). size is the size the caller believes. A body that ends before
// size (RFC822.SIZE can be wrong) gives fewer bytes, never padding, and
// end, the body's real size, which is then also the size of its listing;
// end is -1 when the read did not reach the end. Bytes are missing only
// past the end. The bytes of a read within one block are the cached
// block's own, without a copy: the caller must not modify them.
func (s *Store) Read(ctx context.Context, mailbox string, uidValidity, uid uint32, size int64, length int, off int64) (data []byte, end int64, err error) {
	key := BodyKey{Mailbox: mailbox, UIDValidity: uidValidity, UID: uid}
	var p []byte // the bytes of a read across blocks, copied together
	end = -1
	for n := 0; n < length && off+int64(n) < size; {
		pos := off + int64(n)
		key.Block = uint32(pos / BlockSize)
		block, err := s.block(ctx, key)
		if err != nil {
			return nil, -1, err
		}
		part := block[min(pos%BlockSize, int64(len(block))):]
		part = part[:min(len(part), length-n)]
		if len(block) < BlockSize {
			end = int64(key.Block)*BlockSize + int64(len(block)) // the body's last block
		}
		if n == 0 && (end >= 0 || len(part) == length) {
			data = part // all of it in this block
			break
		}
		if p == nil {
			p = make([]byte, 0, length)
		}
		p = append(p, part...)
		n = len(p)
		data = p
		if end >= 0 {
			break
		}
	}
	if end >= 0 && end != size {
		s.CorrectSize(mailbox, uidValidity, uid, end)
	}
	return data, end, nil
}

// block returns one block of a body, from the cache or the server.
func (s *Store) block(ctx context.Context, key BodyKey) ([]byte, error) {
	for {
		data, err := s.blockOnce(ctx, key)
		if err != errNotPrefetched {
			return data, err
		}
	}
}

func (s *Store) blockOnce(ctx context.Context, key BodyKey) ([]byte, error) {
	if data, ok := s.bodies.Get(key); ok {
		return data, nil
	}
	s.mu.Lock()
	if data, ok := s.bodies.Peek(key); ok {
		s.mu.Unlock() // cached meanwhile (see keepBodies)
		return data, nil
	}
	f := s.inflight[key]
	mine := f == nil
	if mine {
		fetchCtx, cancel := sharedFetchContext(ctx)
		defer cancel()
		f = &blockFetch{done: make(chan struct{}), ctx: fetchCtx}
		s.inflight[key] = f
	}
	s.mu.Unlock()
	defer imapclient.ShareProgress(ctx, f.ctx)()
	if mine {
		s.fillBlock(key, f)
		return f.data, f.err
	}
	select {
	case <-f.done:
		return f.data, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// fillBlock brings a block from the disk cache or the server for those
// who wait on f.
func (s *Store) fillBlock(key BodyKey, f *blockFetch) {
	if data, ok := s.disk.Get(key); ok {
		f.data = data
		s.stats.DiskHits.Add(1)
	} else if f.data, f.err = s.fetchBlock(f.ctx, key); f.err == nil {
		s.disk.Add(key, f.data)
	}
	if f.err == nil {
		s.bodies.Add(key, f.data)
	}
	s.mu.Lock()
	delete(s.inflight, key)
	s.mu.Unlock()
	close(f.done)
}

// sharedFetchContext is the context of a fetch that several readers may
// wait for, so that it does not die with the first one's context: it is
// bounded as that context is, by its deadline or its idle timeout.
func sharedFetchContext(ctx context.Context) (context.Context, context.CancelFunc) {
	shared := context.WithoutCancel(ctx)
	if d, ok := imapclient.IdleTimeout(ctx); ok {
		return imapclient.WithIdleTimeout(shared, d)
	}
	if deadline, ok := ctx.Deadline(); ok {
		return context.WithDeadline(shared, deadline)
	}
	return shared, func() {}
}

// fetchBlock asks the server for one block with a partial BODY.PEEK[].
// Like every read it is tried once more after a lost connection: a server
// that finds its own size information wrong (Dovecot's "Broken virtual
// size") drops the connection, repairs it, and answers the next time.
//
// Only an answer that names the message and the block counts: a body that
// ends early is the server's word for where it ends (RFC822.SIZE can be
// wrong), but no body at all, or NIL (Dovecot's answer for a message
// expunged under it), says the message is gone, not that it is shorter.
// That is checked against a fresh listing before it is believed, since an
// answer can also have gone astray.
func (s *Store) fetchBlock(ctx context.Context, key BodyKey) ([]byte, error) {
	data, err := s.fetchBlockOnce(ctx, key)
	if !errors.Is(err, errNoBody) {
		return data, err
	}
	s.markDirty(key.Mailbox)
	l, lerr := s.Listing(ctx, key.Mailbox)
	switch {
	case lerr != nil:
		return nil, lerr
	case l.UIDValidity != key.UIDValidity:
		return nil, ErrStale
	}
	if _, listed := l.Find(key.UID); !listed {
		return nil, ErrGone
	}
	if data, err = s.fetchBlockOnce(ctx, key); errors.Is(err, errNoBody) {
		s.markDirty(key.Mailbox)
		return nil, fmt.Errorf("UID %d of %q is listed, yet the server sends no body for it: %w", key.UID, key.Mailbox, err)
	}
	return data, err
}

// errNoBody: the server answered a body fetch without the body asked for.
var errNoBody = errors.New("the server sent no body")

// blockSection is how the server names a block in its answer: BODY[]<off>.
func blockSection(block uint32) string {
	return "BODY[]<" + strconv.FormatInt(int64(block)*BlockSize, 10) + ">"
}

// fetchBlockOnce fetches one block and checks the answer: it must carry
// this UID and this block, no more than a block, and as many bytes as
// announced (the literal's size).
func (s *Store) fetchBlockOnce(ctx context.Context, key BodyKey) ([]byte, error) {
	section := blockSection(key.Block)
	var data []byte
	var found bool
	err := s.readMailbox(ctx, key.Mailbox, func(c *imapclient.Client, m *imapclient.MailboxStatus) error {
		if m.UIDValidity != key.UIDValidity {
			return ErrStale
		}
		data, found = nil, false
		// Bodies that arrive before their UID are held apart and sorted
		// out by UID once the command is done.
		bodies := map[*imapclient.FetchMessage]*blockBuffer{}
		announced := map[*imapclient.FetchMessage]int64{}
		var set imapclient.SeqSet
		set.AddNum(key.UID)
		item := "BODY.PEEK[]<" + strconv.FormatInt(int64(key.Block)*BlockSize, 10) + "." + itoa(BlockSize) + ">"
		fetched, err := c.UIDFetch(ctx, set, []string{imapclient.FetchUID, item}, &imapclient.FetchOptions{
			Body: func(msg *imapclient.FetchMessage, name string, size int64) io.Writer {
				if (msg.UID != 0 && msg.UID != key.UID) || name != section || size > BlockSize || bodies[msg] != nil {
					return nil
				}
				b := newBlockBuffer(size)
				bodies[msg], announced[msg] = b, size
				return b
			},
		})
		if err != nil {
			return err
		}
		if now := c.Mailbox(); now == nil || now.UIDValidity != key.UIDValidity {
			return ErrStale // selected anew meanwhile: the UID may name another message
		}
		for _, msg := range fetched {
			if b := bodies[msg]; b != nil && msg.UID == key.UID && int64(b.Len()) == announced[msg] {
				data, found = b.Bytes(), true
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, errNoBody
	}
	s.stats.BodyFetches.Add(1)
	s.stats.BodyBytes.Add(int64(len(data)))
	return withoutSlack(data), nil
}

// blockBuffer receives one block of a body as the server sends it. Room
// for the size announced is made at once, so that the bytes are copied
// once: never more than a block (a larger answer is refused before), and
// a server that announces a block and sends less holds that room for one
// literal on one connection at most, as the next cannot begin before.
type blockBuffer struct{ data []byte }

func newBlockBuffer(announced int64) *blockBuffer {
	return &blockBuffer{data: make([]byte, 0, min(announced, BlockSize))}
}

func (b *blockBuffer) Write(p []byte) (int, error) {
	b.data = append(b.data, p...)
	return len(p), nil
}

func (b *blockBuffer) Len() int      { return len(b.data) }
func (b *blockBuffer) Bytes() []byte { return b.data }

// withoutSlack returns a block the cache can hold as it is: a buffer
// that grew as its bytes came may have room to spare, which the cache
// would keep for nothing.
func withoutSlack(data []byte) []byte {
	if cap(data) > len(data)+len(data)/8 {
		return bytes.Clone(data)
	}
	return data
}

func itoa(n int) string { return strconv.Itoa(n) }
