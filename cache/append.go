package cache

import (
	"bytes"
	"context"
	"errors"
	"os"
	"time"

	"imapfs/imapclient"
)

// Upload is a new message to store: its bytes in a spool file, the flags
// and INTERNALDATE it is to have.
type Upload struct {
	Spool string // the file holding the message
	Flags []string
	Date  time.Time
}

// Append stores a message with APPEND and returns its UID (APPENDUID; 0
// without UIDPLUS). An APPEND whose connection broke before the answer may
// or may not have stored the message: the retry first looks among the
// messages that arrived since for one with the same date, size and bytes,
// so that no duplicate is made.
func (s *Store) Append(ctx context.Context, mailbox string, up Upload) (Copied, error) {
	info, err := os.Stat(up.Spool)
	if err != nil {
		return Copied{}, err
	}
	var uidNext uint32
	err = s.pool.Any(ctx, func(c *imapclient.Client) error {
		st, err := c.Status(ctx, mailbox, imapclient.StatusUIDNext)
		if err == nil {
			uidNext = st.UIDNext
		}
		return err
	})
	if err != nil {
		return Copied{}, err
	}
	copied, err := s.appendOnce(ctx, mailbox, up, info.Size())
	if errors.Is(err, imapclient.ErrAbort) && ctx.Err() == nil {
		s.log.Info("APPEND lost its connection; checking whether it arrived", "mailbox", mailbox, "err", err)
		if found, ferr := s.findArrived(ctx, mailbox, up, info.Size(), uidNext); ferr == nil && found.UID != 0 {
			copied, err = found, nil
		} else {
			copied, err = s.appendOnce(ctx, mailbox, up, info.Size())
		}
	}
	if err == nil {
		s.markDirty(mailbox)
	}
	return copied, err
}

func (s *Store) appendOnce(ctx context.Context, mailbox string, up Upload, size int64) (Copied, error) {
	f, err := os.Open(up.Spool)
	if err != nil {
		return Copied{}, err
	}
	defer f.Close()
	var copied Copied
	err = s.pool.Any(ctx, func(c *imapclient.Client) error {
		uid, err := c.Append(ctx, mailbox, imapclient.AppendMessage{Flags: up.Flags, Date: up.Date, Size: size, Body: f})
		copied = Copied{UIDValidity: uid.UIDValidity, UID: uid.UID}
		return err
	})
	return copied, err
}

// findArrived looks for the uploaded message among those with a UID of at
// least uidNext: same INTERNALDATE (to the second), same size, same bytes.
func (s *Store) findArrived(ctx context.Context, mailbox string, up Upload, size int64, uidNext uint32) (Copied, error) {
	want, err := os.ReadFile(up.Spool)
	if err != nil {
		return Copied{}, err
	}
	var found Copied
	err = s.pool.Mailbox(ctx, mailbox, func(c *imapclient.Client, m *imapclient.MailboxStatus) error {
		if err := c.Noop(ctx); err != nil {
			return err
		}
		msgs, err := c.UIDFetch(ctx, imapclient.SeqSet{{Start: max(uidNext, 1), Stop: imapclient.SeqStar}},
			[]string{imapclient.FetchUID, imapclient.FetchRFC822Size, imapclient.FetchInternalDate}, nil)
		if err != nil {
			return err
		}
		for _, msg := range msgs {
			if msg.UID < uidNext || msg.Size != size || (!up.Date.IsZero() && !msg.InternalDate.Equal(up.Date.Truncate(time.Second))) {
				continue
			}
			var body bytes.Buffer
			if _, err := c.UIDFetchBody(ctx, msg.UID, "", 0, -1, &body); err != nil {
				return err
			}
			if bytes.Equal(body.Bytes(), want) {
				found = Copied{UIDValidity: m.UIDValidity, UID: msg.UID}
				return nil
			}
		}
		return nil
	})
	return found, err
}
