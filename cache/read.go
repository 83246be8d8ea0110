package cache

import (
	"bytes"
	"context"
	"strconv"

	"imapfs/imapclient"
)

// blockFetch is a block being fetched; readers of the same block wait for
// the one fetch instead of asking the server again.
type blockFetch struct {
	done chan struct{}
	data []byte
	err  error
}

// FirstBlock returns the first block of a body (the whole body when it is
// smaller than BlockSize), from the cache or the server.
func (s *Store) FirstBlock(ctx context.Context, mailbox string, uidValidity, uid uint32) ([]byte, error) {
	return s.block(ctx, BodyKey{Mailbox: mailbox, UIDValidity: uidValidity, UID: uid})
}

// ReadAt reads the body of a message into p from offset off, like
// io.ReaderAt, fetching and caching whole blocks with BODY.PEEK (never
// setting \Seen). size is the size the caller believes; a body that ends
// early is reported with a short count and io.EOF semantics left to the
// caller, never padded.
func (s *Store) ReadAt(ctx context.Context, mailbox string, uidValidity, uid uint32, size int64, p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) && off+int64(n) < size {
		pos := off + int64(n)
		block := uint32(pos / BlockSize)
		data, err := s.block(ctx, BodyKey{Mailbox: mailbox, UIDValidity: uidValidity, UID: uid, Block: block})
		if err != nil {
			return n, err
		}
		within := pos - int64(block)*BlockSize
		if within >= int64(len(data)) {
			break // the body is shorter than RFC822.SIZE said
		}
		n += copy(p[n:], data[within:])
		if len(data) < BlockSize {
			break // the body's last block
		}
	}
	return n, nil
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
	f := s.inflight[key]
	if f == nil {
		f = &blockFetch{done: make(chan struct{})}
		s.inflight[key] = f
		s.mu.Unlock()
		// The fetch is shared, so it must not die with the first caller's
		// context alone; it is still bounded by that context's deadline.
		fetchCtx := context.WithoutCancel(ctx)
		if deadline, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			fetchCtx, cancel = context.WithDeadline(fetchCtx, deadline)
			defer cancel()
		}
		if data, ok := s.disk.Get(key); ok {
			f.data = data
			s.stats.DiskHits.Add(1)
		} else if f.data, f.err = s.fetchBlock(fetchCtx, key); f.err == nil {
			s.disk.Add(key, f.data)
		}
		if f.err == nil {
			s.bodies.Add(key, f.data)
		}
		s.mu.Lock()
		delete(s.inflight, key)
		s.mu.Unlock()
		close(f.done)
	} else {
		s.mu.Unlock()
	}
	select {
	case <-f.done:
		return f.data, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// fetchBlock asks the server for one block with a partial BODY.PEEK[].
// Like every read it is tried once more after a lost connection: a server
// that finds its own size information wrong (Dovecot's "Broken virtual
// size") drops the connection, repairs it, and answers the next time.
func (s *Store) fetchBlock(ctx context.Context, key BodyKey) ([]byte, error) {
	var buf bytes.Buffer
	var n int64
	err := s.readMailbox(ctx, key.Mailbox, func(c *imapclient.Client, m *imapclient.MailboxStatus) error {
		if m.UIDValidity != key.UIDValidity {
			return ErrStale
		}
		buf.Reset()
		var err error
		n, err = c.UIDFetchBody(ctx, key.UID, "", int64(key.Block)*BlockSize, BlockSize, &buf)
		return err
	})
	if err != nil {
		return nil, err
	}
	if n == 0 && key.Block == 0 {
		// Gone, or renumbered (Dovecot gives a message it found damaged a
		// new UID): the listing must be asked for again.
		s.markDirty(key.Mailbox)
		return nil, ErrGone
	}
	s.stats.BodyFetches.Add(1)
	s.stats.BodyBytes.Add(n)
	data := buf.Bytes()
	if cap(data) > len(data)+len(data)/8 {
		data = bytes.Clone(data) // the cache holds what it is given: no slack
	}
	return data, nil
}

func itoa(n int) string { return strconv.Itoa(n) }
