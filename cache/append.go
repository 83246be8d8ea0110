package cache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"time"

	"imapfs/imapclient"
)

// Upload is a new message to store: its bytes in a spool file, the flags
// and INTERNALDATE it is to have. The caller keeps it across attempts.
type Upload struct {
	Spool string // the file holding the message
	Flags []string
	Date  time.Time

	// since is the mailbox's UIDNEXT before the first attempt, and
	// uncertain tells that an attempt lost its connection before the
	// server's answer, so the message may be there already.
	since     uint32
	uncertain bool
}

// ErrNUL: a message holding NUL bytes, which only a server with BINARY
// can take.
var ErrNUL = errors.New("the message holds NUL bytes, which IMAP carries only with BINARY, and the server lacks it")

// ErrBinaryUncertain: the APPEND of a binary message lost its connection
// and whether it arrived cannot be told; it is not sent again.
var ErrBinaryUncertain = errors.New("the APPEND of a binary message lost its connection and may have arrived (check the mailbox); not sending it again")

// Append stores a message with APPEND (in its wireForm: bare LFs made
// CRLF, or as binary) and returns its UID (APPENDUID; 0
// without UIDPLUS). An APPEND whose connection broke before the answer may
// or may not have stored the message: before trying again, now or on a
// later call with the same Upload, it looks among the messages that
// arrived since the first attempt for one with the same date, size and
// bytes, so that no duplicate is made.
func (s *Store) Append(ctx context.Context, mailbox string, up *Upload) (Copied, error) {
	form, err := scanSpool(up.Spool)
	if err != nil {
		return Copied{}, err
	}
	if form.binary {
		// Checked before anything is sent: a NUL found while sending would
		// cost the connection, and the attempt, nothing else.
		ok, err := s.Has(ctx, "BINARY")
		if err != nil {
			return Copied{}, err
		}
		if !ok {
			return Copied{}, ErrNUL
		}
	}
	if up.since == 0 {
		err = s.readAny(ctx, func(c *imapclient.Client) error {
			st, err := c.Status(ctx, mailbox, imapclient.StatusUIDNext)
			if err == nil {
				up.since = st.UIDNext
			}
			return err
		})
		if err != nil {
			return Copied{}, err
		}
	}
	for attempt := 0; attempt < 2; attempt++ {
		if up.uncertain {
			found, err := s.findArrived(ctx, mailbox, *up, form, up.since)
			if err != nil {
				return Copied{}, err
			}
			if found.UID != 0 {
				s.log.Info("the interrupted APPEND had arrived; not sending it again", "mailbox", mailbox, "uid", found.UID)
				s.markDirty(mailbox)
				return found, nil
			}
			if form.binary {
				// A server may store a binary message converted (Dovecot
				// turns binary parts into base64), so not finding the
				// bytes proves nothing: sending again could store it twice.
				return Copied{}, ErrBinaryUncertain
			}
			up.uncertain = false
		}
		copied, sent, err := s.appendOnce(ctx, mailbox, *up, form)
		if err == nil {
			s.markDirty(mailbox)
			return copied, nil
		}
		var refused *imapclient.StatusError
		if sent && !errors.As(err, &refused) {
			// Only the server's NO or BAD says it was not stored; after any
			// other failure (a broken answer, a lost connection) it may
			// have been, and the next attempt looks first.
			up.uncertain = true
		}
		if sent && ctx.Err() != nil {
			// Cut off by the caller's deadline after it was sent: the
			// message may be stored, so it is looked for before failing.
			return s.appendCutOff(ctx, mailbox, up, form, err)
		}
		if !errors.Is(err, imapclient.ErrAbort) || ctx.Err() != nil {
			return Copied{}, err
		}
		s.log.Info("APPEND lost its connection; checking whether it arrived", "mailbox", mailbox, "err", err)
		up.uncertain = true
	}
	return Copied{}, errors.New("APPEND lost its connection twice")
}

// cutOffCheckTimeout bounds the look for an APPEND cut off by its
// caller's deadline.
const cutOffCheckTimeout = 10 * time.Second

// appendCutOff ends an Append whose APPEND was sent but cut off by the
// caller's context: found in the mailbox, it succeeded after all; else it
// failed, and stays uncertain, so that the next attempt looks first.
func (s *Store) appendCutOff(ctx context.Context, mailbox string, up *Upload, form wireForm, err error) (Copied, error) {
	up.uncertain = true
	checkCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cutOffCheckTimeout)
	defer cancel()
	found, ferr := s.findArrived(checkCtx, mailbox, *up, form, up.since)
	if ferr == nil && found.UID != 0 {
		s.log.Info("the APPEND cut off by the deadline had arrived", "mailbox", mailbox, "uid", found.UID)
		s.markDirty(mailbox)
		up.uncertain = false
		return found, nil
	}
	return Copied{}, err
}

// appendOnce sends one APPEND; sent tells whether it got as far as a
// connection (and so may have arrived).
func (s *Store) appendOnce(ctx context.Context, mailbox string, up Upload, form wireForm) (copied Copied, sent bool, err error) {
	f, err := os.Open(up.Spool)
	if err != nil {
		return Copied{}, false, err
	}
	defer f.Close()
	err = s.pool.Any(ctx, func(c *imapclient.Client) error {
		sent = true
		uid, err := c.Append(ctx, mailbox, imapclient.AppendMessage{Flags: up.Flags, Date: up.Date,
			Size: form.size, Body: form.reader(f), Binary: form.binary})
		copied = Copied{UIDValidity: uid.UIDValidity, UID: uid.UID}
		return err
	})
	return copied, sent, err
}

// findArrived looks for the uploaded message among those with a UID of at
// least uidNext: same INTERNALDATE (to the second), same size, same bytes.
func (s *Store) findArrived(ctx context.Context, mailbox string, up Upload, form wireForm, uidNext uint32) (Copied, error) {
	f, err := os.Open(up.Spool)
	if err != nil {
		return Copied{}, err
	}
	want, err := io.ReadAll(form.reader(f))
	f.Close()
	if err != nil {
		return Copied{}, err
	}
	var found Copied
	err = s.readMailbox(ctx, mailbox, func(c *imapclient.Client, m *imapclient.MailboxStatus) error {
		if err := c.Noop(ctx); err != nil {
			return err
		}
		msgs, err := c.UIDFetch(ctx, imapclient.SeqSet{{Start: max(uidNext, 1), Stop: imapclient.SeqStar}},
			[]string{imapclient.FetchUID, imapclient.FetchRFC822Size, imapclient.FetchInternalDate}, nil)
		if err != nil {
			return err
		}
		for _, msg := range msgs {
			if msg.UID < uidNext || msg.Size != form.size || (!up.Date.IsZero() && !msg.InternalDate.Equal(up.Date.Truncate(time.Second))) {
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
