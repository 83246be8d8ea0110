package cache

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"imapfs/imapclient"
)

// Changes to the server. Each one keeps the store's listings and body
// cache in agreement with the server for the caller who made it, at once.

// ErrNoUIDPlus: the server cannot expunge one message by UID (no UIDPLUS);
// a plain EXPUNGE would also remove every message another client flagged
// \Deleted, so imapfs refuses.
var ErrNoUIDPlus = errors.New("the server has no UIDPLUS: deleting one message would need a plain EXPUNGE, which could remove other messages")

// Expunge deletes exactly one message: UID STORE +FLAGS.SILENT (\Deleted),
// then UID EXPUNGE of that UID alone (never a bare EXPUNGE, unless the
// user allowed it for a server without UIDPLUS).
func (s *Store) Expunge(ctx context.Context, mailbox string, uidValidity, uid uint32) error {
	err := s.changeMessage(ctx, mailbox, uidValidity, uid, func(c *imapclient.Client, set imapclient.SeqSet) error {
		return s.removeOne(ctx, c, set)
	})
	if err != nil {
		err = s.undoDeletedElsewhere(ctx, mailbox, uidValidity, uid, err)
		if !s.goneAfterCut(ctx, mailbox, uidValidity, uid, err) {
			return err
		}
		s.log.Info("a removal cut off before its answer had happened", "mailbox", mailbox, "uid", uid)
	}
	s.forgetMessage(mailbox, uidValidity, uid)
	return nil
}

// goneAfterCut tells whether a change of the message uid that was cut
// off before the server's answer (err: a dropped connection, a BYE, a
// deadline) removed it after all: asked on a connection of its own, the
// mailbox no longer holds it. Without this, rm or mv would report a
// failure for a message they did remove, and the user would not know
// which. A change the server refused did not happen; one that never got
// a connection (an unreachable server) is not asked about.
func (s *Store) goneAfterCut(ctx context.Context, mailbox string, uidValidity, uid uint32, err error) bool {
	var refused *imapclient.StatusError
	cutOff := errors.Is(err, imapclient.ErrAbort) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
	if !cutOff || errors.As(err, &refused) {
		return false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	gone := false
	check := s.readMailbox(ctx, mailbox, func(c *imapclient.Client, m *imapclient.MailboxStatus) error {
		if m.UIDValidity != uidValidity {
			return ErrStale
		}
		if err := c.Noop(ctx); err != nil { // the expunges of other sessions
			return err
		}
		msgs, err := c.UIDFetch(ctx, imapclient.SeqSet{{Start: uid, Stop: uid}}, []string{imapclient.FetchUID}, nil)
		gone = err == nil && !slices.ContainsFunc(msgs, func(m *imapclient.FetchMessage) bool { return m.UID == uid })
		return err
	})
	return check == nil && gone
}

// changeMessage runs f, a change of the message uid given as a UID set, on
// a connection with its mailbox selected, once the mailbox is seen to keep
// uidValidity (ErrStale otherwise). Changes are never repeated.
func (s *Store) changeMessage(ctx context.Context, mailbox string, uidValidity, uid uint32, f func(c *imapclient.Client, set imapclient.SeqSet) error) error {
	return s.pool.MailboxForChange(ctx, mailbox, func(c *imapclient.Client, m *imapclient.MailboxStatus) error {
		if m.UIDValidity != uidValidity {
			return ErrStale
		}
		return f(c, imapclient.SeqSet{{Start: uid, Stop: uid}})
	})
}

// removeOne removes one message from the selected mailbox: \Deleted, then
// UID EXPUNGE of it alone; without UIDPLUS, a plain EXPUNGE only when the
// user said so, since it also removes what others marked \Deleted. When
// the expunge fails, the \Deleted it set is taken back (a \Deleted left
// behind would make the message vanish at the next expunge by anyone,
// while the caller was told the removal failed); one another client set
// before stays.
func (s *Store) removeOne(ctx context.Context, c *imapclient.Client, set imapclient.SeqSet) error {
	hasUIDPlus := c.Has("UIDPLUS")
	if !hasUIDPlus && !s.expungeAllDeleted {
		return ErrNoUIDPlus
	}
	already, err := flaggedDeleted(ctx, c, set)
	if err != nil {
		return err
	}
	if !already {
		if _, err := c.UIDStore(ctx, set, imapclient.StoreAdd, []string{imapclient.FlagDeleted}, &imapclient.StoreOptions{Silent: true}); err != nil {
			var refused *imapclient.StatusError
			if errors.As(err, &refused) {
				return err // refused: nothing was set
			}
			// Cut off: it may have been set, so it is taken back.
			return s.undoDeleted(ctx, c, set, err)
		}
	}
	if hasUIDPlus {
		_, err = c.UIDExpunge(ctx, set)
	} else {
		s.log.Warn("no UIDPLUS: plain EXPUNGE, as --expunge-all-deleted allows", "uid", set.String())
		_, err = c.Expunge(ctx)
	}
	if err != nil && !already {
		return s.undoDeleted(ctx, c, set, err)
	}
	return err
}

// flaggedDeleted tells whether the message of set has \Deleted now (false
// when it is gone).
func flaggedDeleted(ctx context.Context, c *imapclient.Client, set imapclient.SeqSet) (bool, error) {
	msgs, err := c.UIDFetch(ctx, set, []string{imapclient.FetchFlags}, nil)
	if err != nil {
		return false, err
	}
	for _, m := range msgs {
		for _, f := range m.Flags {
			if strings.EqualFold(f, imapclient.FlagDeleted) {
				return true, nil
			}
		}
	}
	return false, nil
}

// undoTimeout bounds taking back a \Deleted after a failed removal, which
// runs even when the caller's request was cut off.
const undoTimeout = 10 * time.Second

// undoDeleted takes back the \Deleted that a removal which failed with
// cause set on the message of set (if the expunge did happen after all,
// the UID names nothing and the STORE changes nothing). When that fails
// too, the error says that the flag may remain (deletedLeftError), for
// undoDeletedElsewhere to try again on another connection.
func (s *Store) undoDeleted(ctx context.Context, c *imapclient.Client, set imapclient.SeqSet, cause error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	_, err := c.UIDStore(ctx, set, imapclient.StoreRemove, []string{imapclient.FlagDeleted}, &imapclient.StoreOptions{Silent: true})
	if err != nil {
		return &deletedLeftError{cause: cause, undo: err}
	}
	return cause
}

// deletedLeftError: a removal failed, and the \Deleted it set could not
// be taken back.
type deletedLeftError struct {
	cause, undo error
}

func (e *deletedLeftError) Error() string {
	return e.cause.Error() + "; the message may stay flagged \\Deleted, and then goes at the next expunge by any client (taking the flag back failed: " + e.undo.Error() + ")"
}

func (e *deletedLeftError) Unwrap() error { return e.cause }

// undoDeletedElsewhere tries once more, on a connection of its own, to
// take back the \Deleted of a removal that failed with err, when the
// connection it failed on could not (a dropped connection, say). What
// remains is logged: the user must know the message may yet go.
func (s *Store) undoDeletedElsewhere(ctx context.Context, mailbox string, uidValidity, uid uint32, err error) error {
	var left *deletedLeftError
	if !errors.As(err, &left) {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	undo := s.changeMessage(ctx, mailbox, uidValidity, uid, func(c *imapclient.Client, set imapclient.SeqSet) error {
		_, err := c.UIDStore(ctx, set, imapclient.StoreRemove, []string{imapclient.FlagDeleted}, &imapclient.StoreOptions{Silent: true})
		return err
	})
	if undo == nil {
		return left.cause
	}
	left.undo = undo
	s.log.Error("a failed removal may have left \\Deleted on the message", "mailbox", mailbox, "uid", uid, "err", left)
	return left
}

// forgetMessage drops a message from the listing and its body blocks.
func (s *Store) forgetMessage(mailbox string, uidValidity, uid uint32) {
	b := s.box(mailbox)
	b.mu.Lock()
	size := int64(0)
	if l := b.listing; l != nil && l.UIDValidity == uidValidity {
		if m, ok := l.Find(uid); ok {
			size = m.Size
		}
		msgs := slices.DeleteFunc(slices.Clone(l.Messages), func(m Message) bool { return m.UID == uid })
		b.listing = l.with(msgs)
	}
	b.mu.Unlock()
	s.bodies.RemoveMessage(mailbox, uidValidity, uid, max(size, 2*BlockSize))
	s.disk.RemoveMessage(mailbox, uidValidity, uid, size)
}

// CreateMailbox creates a mailbox (CREATE).
func (s *Store) CreateMailbox(ctx context.Context, name string) error {
	err := s.pool.Any(ctx, func(c *imapclient.Client) error { return c.Create(ctx, name) })
	s.InvalidateFolders()
	return err
}

// ErrNotEmpty: a mailbox to delete still holds messages.
var ErrNotEmpty = errors.New("mailbox not empty")

// DeleteMailbox deletes a mailbox (DELETE), only if the server says, right
// before, that it holds no message: servers delete non-empty mailboxes
// with their mail, and a listing may be seconds old. Selectable is false
// for \Noselect mailboxes, which hold none.
func (s *Store) DeleteMailbox(ctx context.Context, name string, selectable bool) error {
	var err error
	if selectable {
		// STATUS may answer from a session's stale view of a mailbox it
		// has selected (Dovecot does): select it and NOOP instead.
		err = s.readMailbox(ctx, name, func(c *imapclient.Client, _ *imapclient.MailboxStatus) error {
			if err := c.Noop(ctx); err != nil {
				return err
			}
			if m := c.Mailbox(); m == nil || m.Exists > 0 {
				return ErrNotEmpty
			}
			return nil
		})
	}
	if err == nil {
		s.pool.Unselect(ctx, name)
		err = s.pool.Any(ctx, func(c *imapclient.Client) error { return c.Delete(ctx, name) })
	}
	s.InvalidateFolders()
	if err == nil {
		s.forgetMailboxes(func(box string) bool { return box == name })
	}
	return err
}

// forgetMailboxes drops what the store holds of the mailboxes whose names
// match, gone from the server (DELETE, RENAME): listings, and body blocks
// in memory and on disk, which would otherwise wait for eviction under
// names that may be reused.
func (s *Store) forgetMailboxes(match func(name string) bool) {
	s.mu.Lock()
	var gone []string
	for name := range s.boxes {
		if match(name) {
			delete(s.boxes, name)
			gone = append(gone, name)
		}
	}
	s.mu.Unlock()
	for _, name := range gone {
		s.bodies.RemoveMailbox(name, 0)
		s.disk.RemoveMailbox(name, 0)
	}
}

// Delimiter is the hierarchy delimiter of the account's personal
// mailboxes, as LIST gives it for INBOX.
func (s *Store) Delimiter(ctx context.Context) (string, error) {
	folders, err := s.Folders(ctx)
	if err != nil {
		return "", err
	}
	for _, f := range folders {
		if f.Delimiter != "" {
			return f.Delimiter, nil
		}
	}
	return "", errors.New("the server names no hierarchy delimiter")
}

// Copied is where a copied or moved message landed: its UID in the
// destination (0 when the server did not say: no UIDPLUS) and the
// destination's UIDVALIDITY.
type Copied struct {
	UIDValidity uint32
	UID         uint32
}

func copiedFrom(cu *imapclient.CopyUID, uid uint32) Copied {
	if cu == nil {
		return Copied{}
	}
	dest, _ := cu.DestOf(uid)
	return Copied{UIDValidity: cu.UIDValidity, UID: dest}
}

// Copy copies one message to another mailbox (UID COPY).
func (s *Store) Copy(ctx context.Context, mailbox string, uidValidity, uid uint32, to string) (Copied, error) {
	var copied Copied
	err := s.changeMessage(ctx, mailbox, uidValidity, uid, func(c *imapclient.Client, set imapclient.SeqSet) error {
		cu, err := c.UIDCopy(ctx, set, to)
		copied = copiedFrom(cu, uid)
		return err
	})
	s.markDirty(to) // a COPY cut off may still have landed
	return copied, err
}

// Move moves one message to another mailbox: UID MOVE (RFC 6851) where the
// server has it; otherwise UID COPY and, only once the copy is confirmed,
// the source's removal as Expunge does it. Without UIDPLUS the source
// cannot be removed alone: ErrNoUIDPlus, before anything is copied. A
// COPY cut off (a dropped connection, a deadline) may have landed: the
// next Move of the message looks for that copy before copying again.
func (s *Store) Move(ctx context.Context, mailbox string, uidValidity, uid uint32, to string) (Copied, error) {
	key := moveKey{mailbox, uidValidity, uid, to}
	var earlier Copied
	if place, ok := s.uncertainCopy(key); ok {
		var err error
		if earlier, err = s.findCopy(ctx, key, place); err != nil {
			return Copied{}, err
		}
		if earlier.UID != 0 {
			s.log.Info("the copy of an interrupted move had arrived; not copying again", "mailbox", to, "uid", earlier.UID)
		}
	}
	var copied Copied
	err := s.changeMessage(ctx, mailbox, uidValidity, uid, func(c *imapclient.Client, set imapclient.SeqSet) error {
		if c.Has("MOVE") {
			res, err := c.UIDMove(ctx, set, to)
			if res != nil {
				copied = copiedFrom(res.CopyUID, uid)
			}
			return err
		}
		if !c.Has("UIDPLUS") && !s.expungeAllDeleted {
			// The source could not be removed after the copy: refused
			// before copying, or every attempt would leave a copy.
			return ErrNoUIDPlus
		}
		if earlier.UID != 0 {
			copied = earlier
		} else {
			var err error
			if copied, err = s.copyForMove(ctx, c, set, key); err != nil {
				return err
			}
		}
		err := s.removeOne(ctx, c, set)
		if err != nil && copied.UID != 0 {
			// The copy is made and stays: the next attempt finds it (from
			// its own UID on) instead of copying again.
			s.setCopyUncertain(key, copyPlace{uidValidity: copied.UIDValidity, uidNext: copied.UID})
		}
		return err
	})
	s.markDirty(to)
	if err != nil {
		err = s.undoDeletedElsewhere(ctx, mailbox, uidValidity, uid, err)
		if !s.goneAfterCut(ctx, mailbox, uidValidity, uid, err) {
			return copied, err
		}
		s.log.Info("a move cut off before its answer had happened", "mailbox", mailbox, "uid", uid, "to", to)
	}
	s.setCopyCertain(key)
	s.forgetMessage(mailbox, uidValidity, uid)
	return copied, nil
}

// moveKey names a move: the message and its target.
type moveKey struct {
	mailbox          string
	uidValidity, uid uint32
	to               string
}

// copyPlace is where a COPY that was cut off may have put its copy: the
// target's UIDVALIDITY and UIDNEXT from before it.
type copyPlace struct {
	uidValidity, uidNext uint32
}

// copyForMove copies the message of a move (UID COPY). A COPY cut off
// before its answer is noted as uncertain, with the target's UIDNEXT from
// before it, where the next attempt looks for the copy.
func (s *Store) copyForMove(ctx context.Context, c *imapclient.Client, set imapclient.SeqSet, key moveKey) (Copied, error) {
	st, err := c.Status(ctx, key.to, imapclient.StatusUIDNext, imapclient.StatusUIDValidity)
	if err != nil {
		return Copied{}, err
	}
	cu, err := c.UIDCopy(ctx, set, key.to)
	var refused *imapclient.StatusError
	if err != nil && !errors.As(err, &refused) {
		s.setCopyUncertain(key, copyPlace{st.UIDValidity, st.UIDNext})
	}
	if err != nil {
		return Copied{}, err
	}
	return copiedFrom(cu, key.uid), nil
}

func (s *Store) uncertainCopy(key moveKey) (copyPlace, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	place, ok := s.uncertainCopies[key]
	return place, ok
}

func (s *Store) setCopyUncertain(key moveKey, place copyPlace) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.uncertainCopies == nil {
		s.uncertainCopies = map[moveKey]copyPlace{}
	}
	if old, ok := s.uncertainCopies[key]; !ok || old.uidValidity != place.uidValidity || old.uidNext > place.uidNext {
		s.uncertainCopies[key] = place // the earliest attempt's
	}
}

func (s *Store) setCopyCertain(key moveKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.uncertainCopies, key)
}

// findCopy looks in the target of a move for a copy of its message that
// an earlier, cut-off COPY may have made: among the UIDs from the
// place's UIDNEXT on, one of the same size and INTERNALDATE, then the same
// bytes. A target recreated since holds no such copy.
func (s *Store) findCopy(ctx context.Context, key moveKey, place copyPlace) (Copied, error) {
	var want *imapclient.FetchMessage
	var body bytes.Buffer
	err := s.readMailbox(ctx, key.mailbox, func(c *imapclient.Client, m *imapclient.MailboxStatus) error {
		if m.UIDValidity != key.uidValidity {
			return ErrStale
		}
		body.Reset()
		msgs, err := c.UIDFetch(ctx, imapclient.SeqSet{{Start: key.uid, Stop: key.uid}},
			[]string{imapclient.FetchRFC822Size, imapclient.FetchInternalDate}, nil)
		if err != nil || len(msgs) == 0 {
			return err // gone: the COPY to come fails as it should
		}
		want = msgs[0]
		_, err = c.UIDFetchBody(ctx, key.uid, "", 0, -1, &body)
		return err
	})
	if err != nil || want == nil {
		return Copied{}, err
	}
	var found Copied
	err = s.readMailbox(ctx, key.to, func(c *imapclient.Client, m *imapclient.MailboxStatus) error {
		if m.UIDValidity != place.uidValidity {
			return nil
		}
		if err := c.Noop(ctx); err != nil {
			return err
		}
		since := max(place.uidNext, 1)
		msgs, err := c.UIDFetch(ctx, imapclient.SeqSet{{Start: since, Stop: imapclient.SeqStar}},
			[]string{imapclient.FetchUID, imapclient.FetchRFC822Size, imapclient.FetchInternalDate}, nil)
		if err != nil {
			return err
		}
		for _, msg := range msgs {
			if msg.UID < since || msg.Size != want.Size || !msg.InternalDate.Equal(want.InternalDate) {
				continue
			}
			var other bytes.Buffer
			if _, err := c.UIDFetchBody(ctx, msg.UID, "", 0, -1, &other); err != nil {
				return err
			}
			if bytes.Equal(other.Bytes(), body.Bytes()) {
				found = Copied{UIDValidity: m.UIDValidity, UID: msg.UID}
				return nil
			}
		}
		return nil
	})
	return found, err
}

// RenameMailbox renames a mailbox (RENAME); its children follow on the
// server, and what the store held under the old names is dropped.
func (s *Store) RenameMailbox(ctx context.Context, from, to string) error {
	// From the folder list held now: after the RENAME it must be asked again.
	delimiter, _ := s.Delimiter(ctx)
	err := s.pool.Any(ctx, func(c *imapclient.Client) error { return c.Rename(ctx, from, to) })
	s.InvalidateFolders()
	if err == nil {
		// The mailbox and its children, not its siblings with longer names.
		s.forgetMailboxes(func(name string) bool {
			return name == from || delimiter != "" && strings.HasPrefix(name, from+delimiter)
		})
	}
	return err
}

// SetFlags replaces a message's flags (UID STORE FLAGS.SILENT) and keeps
// the listing in step.
func (s *Store) SetFlags(ctx context.Context, mailbox string, uidValidity, uid uint32, flags []string) error {
	err := s.changeMessage(ctx, mailbox, uidValidity, uid, func(c *imapclient.Client, set imapclient.SeqSet) error {
		_, err := c.UIDStore(ctx, set, imapclient.StoreReplace, flags, &imapclient.StoreOptions{Silent: true})
		return err
	})
	if err != nil {
		return err
	}
	b := s.box(mailbox)
	b.mu.Lock()
	defer b.mu.Unlock()
	if l := b.listing; l != nil && l.UIDValidity == uidValidity {
		msgs := slices.Clone(l.Messages)
		for i := range msgs {
			if msgs[i].UID == uid {
				msgs[i] = msgs[i].withFlags(flags)
			}
		}
		b.listing = l.with(msgs)
	}
	return nil
}
