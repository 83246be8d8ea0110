package cache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"time"

	"imapfs/imapclient"
)

// errNotPrefetched tells a reader waiting on a prefetch that it did not
// bring this block: fetch it yourself.
var errNotPrefetched = errors.New("block not brought by the prefetch")

// prefetchTimeout bounds a background prefetch; nobody waits on it but
// the readers it would serve, which fall back to fetching themselves.
const prefetchTimeout = time.Minute

// Prefetch fetches the first block of each of these messages in one
// pipelined UID FETCH, in the background, into the body cache (those on
// the disk cache are left to be read from there). Readers
// that ask for one of these blocks meanwhile wait for it instead of asking
// the server again.
func (s *Store) Prefetch(mailbox string, uidValidity uint32, uids []uint32) {
	var set imapclient.SeqSet
	fetches := map[uint32]*blockFetch{}
	s.mu.Lock()
	for _, uid := range uids {
		key := BodyKey{Mailbox: mailbox, UIDValidity: uidValidity, UID: uid}
		if _, cached := s.bodies.Peek(key); cached || s.inflight[key] != nil || s.disk.Has(key) {
			continue
		}
		f := &blockFetch{done: make(chan struct{})}
		s.inflight[key] = f
		fetches[uid] = f
		set.AddNum(uid)
	}
	s.mu.Unlock()
	if len(fetches) == 0 {
		return
	}
	s.stats.Prefetches.Add(1)
	go s.runPrefetch(mailbox, uidValidity, set, fetches)
}

func (s *Store) runPrefetch(mailbox string, uidValidity uint32, set imapclient.SeqSet, fetches map[uint32]*blockFetch) {
	ctx, cancel := context.WithTimeout(context.Background(), prefetchTimeout)
	defer cancel()
	buffers := map[uint32]*bytes.Buffer{}
	err := s.pool.Mailbox(ctx, mailbox, func(c *imapclient.Client, m *imapclient.MailboxStatus) error {
		if m.UIDValidity != uidValidity {
			return ErrStale
		}
		_, err := c.UIDFetch(ctx, set, []string{"BODY.PEEK[]<0." + itoa(BlockSize) + ">"}, &imapclient.FetchOptions{
			Body: func(msg *imapclient.FetchMessage, _ string, size int64) io.Writer {
				if fetches[msg.UID] == nil || buffers[msg.UID] != nil {
					return nil // UID not (yet) known: that reader fetches itself
				}
				b := bytes.NewBuffer(make([]byte, 0, size))
				buffers[msg.UID] = b
				return b
			},
		})
		return err
	})
	if err != nil {
		s.log.Debug("prefetch failed", "mailbox", mailbox, "err", err)
	}
	for uid, f := range fetches {
		key := BodyKey{Mailbox: mailbox, UIDValidity: uidValidity, UID: uid}
		if b := buffers[uid]; err == nil && b != nil {
			f.data = b.Bytes()
			s.bodies.Add(key, f.data)
			s.disk.Add(key, f.data)
			s.stats.BodyFetches.Add(1)
			s.stats.BodyBytes.Add(int64(b.Len()))
		} else {
			f.err = errNotPrefetched
		}
		s.mu.Lock()
		delete(s.inflight, key)
		s.mu.Unlock()
		close(f.done)
	}
}
