package cache

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"imapfs/imapclient"
)

// errNotPrefetched tells a reader waiting on a prefetch that it did not
// bring this block: fetch it yourself.
var errNotPrefetched = errors.New("block not brought by the prefetch")

// prefetchTimeout bounds a background prefetch; nobody waits on it but
// the readers it would serve, which fall back to fetching themselves.
const prefetchTimeout = time.Minute

// diskReaders is how many blocks a prefetch reads from the disk cache at
// once: a cold disk answers several reads in about the time of one.
const diskReaders = 8

// Prefetch brings the first block of each of these messages into the
// body cache, in the background: from the disk cache where it has them,
// the rest with one pipelined UID FETCH. Readers that ask for one of
// these blocks meanwhile wait for it instead of asking the server again.
// The prefetches of a mailbox are sent in the order they were asked
// for: a server answers pipelined commands in the order it got them, and
// a walk asks first for what its reader wants first (goroutines left to
// race would as often send the last window first).
func (s *Store) Prefetch(mailbox string, uidValidity uint32, uids []uint32) {
	fetches := map[uint32]*blockFetch{}
	var order []uint32
	// The prefetch is bounded as a whole; its context also tells the
	// readers who wait for it that it moves.
	ctx, cancel := context.WithTimeout(context.Background(), prefetchTimeout)
	ctx, cancelIdle := imapclient.WithIdleTimeout(ctx, prefetchTimeout)
	s.mu.Lock()
	for _, uid := range uids {
		key := BodyKey{Mailbox: mailbox, UIDValidity: uidValidity, UID: uid}
		if _, cached := s.bodies.Peek(key); cached || s.inflight[key] != nil {
			continue
		}
		f := &blockFetch{done: make(chan struct{}), ctx: ctx}
		s.inflight[key] = f
		fetches[uid] = f
		order = append(order, uid)
	}
	if len(fetches) == 0 {
		s.mu.Unlock()
		cancelIdle()
		cancel()
		return
	}
	before, sent := s.prefetchSent[mailbox], make(chan struct{})
	s.prefetchSent[mailbox] = sent
	s.mu.Unlock()
	go func() {
		defer cancel()
		defer cancelIdle()
		var once sync.Once
		markSent := func() {
			once.Do(func() {
				close(sent)
				s.mu.Lock()
				if s.prefetchSent[mailbox] == sent {
					delete(s.prefetchSent, mailbox)
				}
				s.mu.Unlock()
			})
		}
		defer markSent()
		if before != nil {
			select {
			case <-before:
			case <-ctx.Done():
			}
		}
		s.runPrefetch(ctx, mailbox, uidValidity, order, fetches, markSent)
	}()
}

// runPrefetch is Prefetch's work; sent is called once its UID FETCH was
// sent, or it is known that none will be.
func (s *Store) runPrefetch(ctx context.Context, mailbox string, uidValidity uint32, order []uint32, fetches map[uint32]*blockFetch, sent func()) {
	// What the disk cache has is read from there while the rest is
	// fetched; a block on disk that turns out damaged is left to its
	// reader.
	onDisk, missing := s.splitByDisk(mailbox, uidValidity, order)
	var wg sync.WaitGroup
	wg.Go(func() { s.readAheadFromDisk(mailbox, uidValidity, onDisk, fetches) })
	defer wg.Wait()
	if len(missing) == 0 {
		sent() // nothing to send: the next prefetch need not wait for the disk
		return
	}
	s.stats.Prefetches.Add(1)
	var set imapclient.SeqSet
	for _, uid := range missing {
		set.AddNum(uid)
	}
	// Only the first block of a message asked for, no larger than a
	// block, and as long as announced, is taken: anything else (an answer
	// that went astray, a NIL for a message expunged meanwhile) is left to
	// the reader, who fetches and checks it alone. Each block is handed
	// over as soon as its answer is read, not when the whole command is
	// done: a reader of the first messages of a window need not wait for
	// the last.
	buffers := map[uint32]*blockBuffer{}
	announced := map[uint32]int64{}
	delivered := map[uint32]bool{}
	section := blockSection(0)
	err := s.pool.Mailbox(ctx, mailbox, func(c *imapclient.Client, m *imapclient.MailboxStatus) error {
		if m.UIDValidity != uidValidity {
			return ErrStale
		}
		_, err := c.UIDFetch(ctx, set, []string{"BODY.PEEK[]<0." + itoa(BlockSize) + ">"}, &imapclient.FetchOptions{
			Sent: sent,
			Body: func(msg *imapclient.FetchMessage, name string, size int64) io.Writer {
				if fetches[msg.UID] == nil || buffers[msg.UID] != nil || name != section || size > BlockSize {
					return nil // not a block asked for: that reader fetches itself
				}
				b := newBlockBuffer(size)
				buffers[msg.UID], announced[msg.UID] = b, size
				return b
			},
			Each: func(msg *imapclient.FetchMessage) {
				uid := msg.UID
				b := buffers[uid]
				if b == nil || delivered[uid] || int64(b.Len()) != announced[uid] || b.Len() == 0 {
					return
				}
				// The UIDs name these messages only while the selection
				// is the one asked for (the server may announce a new
				// UIDVALIDITY between two answers).
				if now := c.Mailbox(); now == nil || now.UIDValidity != uidValidity {
					return
				}
				delivered[uid] = true
				s.deliverPrefetched(BodyKey{Mailbox: mailbox, UIDValidity: uidValidity, UID: uid}, fetches[uid], b.Bytes())
			},
		})
		if now := c.Mailbox(); err == nil && (now == nil || now.UIDValidity != uidValidity) {
			err = ErrStale // selected anew meanwhile: the UIDs may name other messages
		}
		return err
	})
	if err != nil {
		s.log.Debug("prefetch failed", "mailbox", mailbox, "err", err)
	}
	for _, uid := range missing {
		if !delivered[uid] {
			s.deliver(BodyKey{Mailbox: mailbox, UIDValidity: uidValidity, UID: uid}, fetches[uid], nil)
		}
	}
}

// deliverPrefetched ends the prefetch of one block with its data.
func (s *Store) deliverPrefetched(key BodyKey, f *blockFetch, fetched []byte) {
	data := withoutSlack(fetched)
	s.stats.BodyFetches.Add(1)
	s.stats.BodyBytes.Add(int64(len(data)))
	s.disk.Add(key, data)
	s.deliver(key, f, data)
}

// splitByDisk parts the UIDs (in order) into those whose first block
// the disk cache has and the others.
func (s *Store) splitByDisk(mailbox string, uidValidity uint32, order []uint32) (onDisk, missing []uint32) {
	for _, uid := range order {
		if s.disk.Has(BodyKey{Mailbox: mailbox, UIDValidity: uidValidity, UID: uid}) {
			onDisk = append(onDisk, uid)
		} else {
			missing = append(missing, uid)
		}
	}
	return onDisk, missing
}

// readAheadFromDisk delivers these blocks from the disk cache, reading
// several at once in UID order; one that cannot be read (damaged, or
// evicted meanwhile) is left to its reader.
func (s *Store) readAheadFromDisk(mailbox string, uidValidity uint32, uids []uint32, fetches map[uint32]*blockFetch) {
	next := make(chan uint32)
	var wg sync.WaitGroup
	for range min(diskReaders, len(uids)) {
		wg.Go(func() {
			for uid := range next {
				key := BodyKey{Mailbox: mailbox, UIDValidity: uidValidity, UID: uid}
				data, ok := s.disk.Get(key)
				if ok {
					s.stats.DiskHits.Add(1)
				}
				s.deliver(key, fetches[uid], data) // nil: the reader fetches it
			}
		})
	}
	for _, uid := range uids {
		next <- uid
	}
	close(next)
	wg.Wait()
}

// deliver ends a prefetch of one block: with its data, into the body
// cache, or with nil, telling waiting readers to fetch it themselves.
func (s *Store) deliver(key BodyKey, f *blockFetch, data []byte) {
	if data != nil {
		f.data = data
		s.bodies.Add(key, data)
	} else {
		f.err = errNotPrefetched
	}
	s.mu.Lock()
	delete(s.inflight, key)
	s.mu.Unlock()
	close(f.done)
}
