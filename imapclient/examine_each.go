package imapclient

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"imapfs/imapclient/imapwire"
)

// MailboxFetch is one mailbox's part of ExamineEach.
type MailboxFetch struct {
	Mailbox string
	// Status is the mailbox as its EXAMINE opened it (UIDVALIDITY,
	// EXISTS, HIGHESTMODSEQ...); nil when Err is set.
	Status *MailboxStatus
	// SelectedAt is when the server answered the EXAMINE.
	SelectedAt time.Time
	// Exists is how many messages the mailbox held when its FETCH
	// completed: Status.Exists with the changes the server reported
	// meanwhile (an arrival, an expunge).
	Exists uint32
	// Messages are the FETCH responses, in the order they came.
	Messages []*FetchMessage
	// Err is this mailbox's own failure: the EXAMINE refused (the
	// mailbox does not exist, or no longer does), or its FETCH refused.
	Err error
}

// ExamineEachMax is the most mailboxes one ExamineEach takes: each
// mailbox's answer is held until each has seen it.
const ExamineEachMax = 64

// ExamineEach lists several mailboxes in one round trip: it writes
// `EXAMINE m` and `UID FETCH 1:* (items)` for every mailbox, all before
// the first answer, and calls each, in order, with every mailbox's answer
// as soon as it is complete. A server runs a command that changes the
// selection only once the commands before it are done, so the answers
// come mailbox after mailbox and are told apart by their order: the
// FETCH responses between a mailbox's EXAMINE OK and its FETCH's OK are
// that mailbox's. A mailbox whose EXAMINE fails (it does not exist)
// leaves nothing selected, so its FETCH fails too; whatever that FETCH
// answers is not taken for the mailbox, which gets the EXAMINE's error
// alone, and the next mailboxes go on.
//
// Afterwards the last mailbox examined is the selected one (none when
// its EXAMINE failed). Unilateral data (EXISTS, EXPUNGE...) is applied
// to the mailbox selected when it comes and passed to Options.Updates
// as usual. The error is the batch's own (the connection broke, ctx
// ended, a name the encoder refuses, more than ExamineEachMax
// mailboxes); each has then not been called for the mailboxes left.
func (c *Client) ExamineEach(ctx context.Context, mailboxes []string, items []string, each func(MailboxFetch)) error {
	_, err := c.examineEach(ctx, mailboxes, items, each, nil)
	return err
}

// examineStep is one mailbox of an ExamineEach.
type examineStep struct {
	status         *MailboxStatus // becomes c.mailbox when the server starts on the mailbox
	examine, fetch *command
	// Under c.mu: the EXAMINE is (being) sent; the FETCH before it
	// completed; status was made the selection.
	queued, prevDone, switched bool

	// Set on the reader goroutine before the commands finish.
	opened     *MailboxStatus // a copy as EXAMINE answered; nil if it failed
	selectedAt time.Time
	exists     uint32
}

// examineEach is ExamineEach; selected, if set, runs on the reader
// goroutine whenever the selection changes: "" when a mailbox's EXAMINE
// is about to be answered (its answer describes the mailbox as opened)
// or failed, the mailbox's name once it is open. It returns how many
// EXAMINEs it sent.
func (c *Client) examineEach(ctx context.Context, mailboxes []string, items []string, each func(MailboxFetch), selected func(mailbox string)) (int, error) {
	if err := checkExamineEach(mailboxes, items, c.Enabled("UTF8=ACCEPT")); err != nil {
		return 0, err
	}
	if selected == nil {
		selected = func(string) {}
	}
	all := SeqSet{{Start: 1, Stop: SeqStar}}
	steps := make([]*examineStep, len(mailboxes))
	var cmds []*command
	for i, name := range mailboxes {
		st := &examineStep{status: &MailboxStatus{Name: name, ReadOnly: true, examined: true}}
		st.examine = newCommand("EXAMINE")
		st.fetch = newCommand("UID FETCH")
		st.fetch.fetch = newFetchTarget(true, all, items, nil)
		// The FETCH answers nothing until its EXAMINE succeeded: what
		// comes before is the previous mailbox's, or nobody's.
		st.fetch.heldBack = true
		steps[i] = st
		cmds = append(cmds, st.examine, st.fetch)
	}
	for i, st := range steps {
		st.examine.completed = func(ok *Status, err error) {
			c.mu.Lock()
			open := err == nil && c.mailbox == st.status
			if open {
				st.opened = c.openedLocked(st.status, ok)
				st.selectedAt = c.selectedAt
				st.fetch.heldBack = false
			} else if c.mailbox == st.status {
				c.selectFailedLocked()
			}
			c.mu.Unlock()
			if open {
				selected(st.status.Name)
			} else {
				selected("")
			}
		}
		st.fetch.completed = func(*Status, error) {
			c.mu.Lock()
			if c.mailbox == st.status {
				st.exists = st.status.Exists
			}
			var next *examineStep
			if i+1 < len(steps) {
				next = steps[i+1]
				next.prevDone = true
				next.switched = next.queued
				if next.switched {
					c.beginSelectLocked(next.status)
				}
			}
			c.mu.Unlock()
			if next != nil && next.switched {
				selected("")
			}
		}
	}

	defer c.watchCommand(ctx)()
	if err := c.lockForSending(ctx, cmds...); err != nil {
		return 0, err
	}
	sent, err := c.sendSteps(ctx, steps, items, selected)
	c.writeMu.Unlock()

	for i, st := range steps[:sent] {
		_, exErr := c.wait(ctx, st.examine)
		_, feErr := c.wait(ctx, st.fetch)
		// A mailbox whose answers all came is the caller's, whatever
		// happens to the connection or ctx after them.
		if broken := cmpBroken(ctx, c, exErr, feErr); broken != nil && (exErr != nil || feErr != nil) {
			for _, later := range steps[i:] {
				later.examine.abandon()
				later.fetch.abandon()
			}
			return sent, broken
		}
		r := MailboxFetch{Mailbox: st.status.Name}
		switch {
		case exErr != nil:
			r.Err = exErr
			if feErr == nil {
				c.tr.note("a FETCH after a failed EXAMINE succeeded; its answers were not taken for " + st.status.Name)
			}
		case feErr != nil:
			r.Err = feErr
		case st.opened == nil:
			r.Err = &imapwire.ProtocolError{What: "EXAMINE", Msg: "another SELECT ran meanwhile"}
		default:
			r.Status, r.SelectedAt, r.Exists = st.opened, st.selectedAt, st.exists
			r.Messages = st.fetch.fetch.messages
		}
		each(r)
	}
	return sent, err
}

// cmpBroken is the error that ends a batch: the connection's, or the
// context's; nil when the commands' errors are their own (NO, BAD, a
// malformed answer).
func cmpBroken(ctx context.Context, c *Client, errs ...error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.Err(); err != nil {
		return err
	}
	for _, err := range errs {
		if errors.Is(err, ErrAbort) {
			return err
		}
	}
	return nil
}

// sendSteps writes every step's EXAMINE and FETCH, with writeMu held, and
// returns how many steps were sent whole. A step's status becomes the
// selection (beginSelectLocked) when the server starts on its EXAMINE:
// for the first, as it is sent; for the others, once the FETCH before
// completed, which may happen before or after the EXAMINE is written.
func (c *Client) sendSteps(ctx context.Context, steps []*examineStep, items []string, selected func(string)) (int, error) {
	for i, st := range steps {
		c.mu.Lock()
		st.queued = true
		starts := (i == 0 || st.prevDone) && !st.switched
		if starts {
			st.switched = true
			c.beginSelectLocked(st.status)
		}
		c.mu.Unlock()
		if starts {
			selected("")
		}
		err := c.send(ctx, st.examine, func(e *imapwire.Encoder) {
			e.Atom("EXAMINE").SP().Mailbox(st.status.Name)
		})
		c.disarmContinuation()
		var refused *StatusError
		if err != nil && !errors.As(err, &refused) {
			// The connection is gone (or ctx ended and closed it).
			return i, err
		}
		// A refused literal ended the EXAMINE with NO, as a missing
		// mailbox would: its FETCH fails the same way.
		err = c.send(ctx, st.fetch, func(e *imapwire.Encoder) {
			e.Atom("UID").SP().Atom("FETCH").SP().SeqSet(st.fetch.fetch.set.String()).SP()
			e.List(len(items), func(i int) { e.FetchAtt(items[i]) })
		})
		c.disarmContinuation()
		if err != nil {
			return i, err
		}
	}
	return len(steps), nil
}

// checkExamineEach refuses, before anything is sent, a batch too large,
// or a mailbox name or fetch item the encoder would refuse: once the
// first EXAMINE is out, only a lost connection may end a batch midway.
func checkExamineEach(mailboxes, items []string, utf8 bool) error {
	if len(mailboxes) > ExamineEachMax {
		return fmt.Errorf("imap: ExamineEach of %d mailboxes, at most %d at once", len(mailboxes), ExamineEachMax)
	}
	enc := imapwire.NewEncoder(bufio.NewWriter(io.Discard), imapwire.EncoderOptions{LiteralPlus: true, UTF8: utf8})
	for _, name := range mailboxes {
		enc.Mailbox(name)
	}
	enc.List(len(items), func(i int) { enc.FetchAtt(items[i]) })
	return enc.CRLF()
}
