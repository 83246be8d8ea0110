package cache

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"os"
	"strings"
	"sync"
	"time"

	"imapfs/imapclient"
)

// Upload is a new message to store: its bytes in a spool file, the flags
// and INTERNALDATE it is to have. The caller keeps it across attempts.
type Upload struct {
	Spool string // the file holding the message
	Flags []string
	Date  time.Time

	// uncertain tells that an attempt lost its connection before the
	// server's answer, so the message may be there already.
	uncertain bool
}

// ErrNUL: a message holding NUL bytes, which only a server with BINARY
// can take.
var ErrNUL = errors.New("the message holds NUL bytes, which IMAP carries only with BINARY, and the server lacks it")

// ErrBinaryUncertain: the APPEND of a binary message lost its connection
// and whether it arrived cannot be told; it is not sent again.
var ErrBinaryUncertain = errors.New("the APPEND of a binary message lost its connection and may have arrived (check the mailbox); not sending it again")

// Storing is idempotent: a message the mailbox holds already is not
// stored again, so that a restore (rsync -a, cp) can be run again, or
// after it was interrupted, and an upload retried after an APPEND whose
// answer was lost does not make a second copy. "Already there" is a
// message with the very bytes APPEND would send (the wire form: line ends
// made CRLF) and, when the upload carries a date (the writer set the
// file's mtime: rsync -a, cp -p), that INTERNALDATE to the second. An
// upload without a date (a plain cp: the server would use "now") matches
// on the bytes alone. Flags are not compared, and the message found is
// left as it is.
//
// The look costs one UID SEARCH before the APPEND (same size, same
// Message-ID when the message has one, a date within a day when it
// carries one), on the connection that then sends the APPEND; only the
// messages it finds are fetched and compared byte for byte. It is
// preceded by a NOOP where the connection's view of the mailbox may lack
// a message stored since (Dovecot searches the messages a session was
// last told of): on a connection new to it, after an APPEND of ours on
// another connection, or once it is older than the listing TTL.

// Append stores a message with APPEND (in its wireForm: bare LFs made
// CRLF, or as binary) unless the mailbox holds it already, and returns its
// UID (APPENDUID; 0 without UIDPLUS), or the UID of the message found. An
// APPEND whose connection broke before the answer may or may not have
// stored the message: the look before each attempt, now or on a later
// call with the same Upload, finds it if so.
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
	look, err := lookFor(up, form)
	if err != nil {
		return Copied{}, err
	}
	// Two uploads of one message at once (cp a b DIR/ of equal files)
	// must not both find it missing and both store it.
	done, err := s.appends.hold(ctx, mailbox, form.digest)
	if err != nil {
		return Copied{}, err
	}
	defer done()
	for attempt := 0; attempt < 2; attempt++ {
		copied, found, sent, err := s.storeOnce(ctx, mailbox, up, form, look)
		if found {
			if up.uncertain {
				s.log.Info("the interrupted APPEND had arrived; not sending it again", "mailbox", mailbox, "uid", copied.UID)
			} else {
				s.log.Info("the mailbox holds the message already; not storing it again", "mailbox", mailbox, "uid", copied.UID)
			}
			up.uncertain = false
			return copied, nil
		}
		if sent {
			s.markDirty(mailbox)
		}
		if err == nil {
			up.uncertain = false
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
			return s.appendCutOff(ctx, mailbox, up, form, look, err)
		}
		if !errors.Is(err, imapclient.ErrAbort) || ctx.Err() != nil {
			return Copied{}, err
		}
		if sent {
			s.log.Info("APPEND lost its connection; checking whether it arrived", "mailbox", mailbox, "err", err)
			// The server may still be storing it: the bytes that reached
			// it before the cut are read, and the message saved, by a
			// session that no longer answers. Looking at once can miss it,
			// and store it twice.
			select {
			case <-time.After(uncertainGrace):
			case <-ctx.Done():
				return Copied{}, err
			}
		}
	}
	return Copied{}, errors.New("the connection was lost twice while storing the message")
}

// storeOnce looks for the message and, not found, sends one APPEND on the
// same connection: found tells it was there, sent that the APPEND got as
// far as the connection (and so may have arrived).
func (s *Store) storeOnce(ctx context.Context, mailbox string, up *Upload, form wireForm, look *storedLook) (copied Copied, found, sent bool, err error) {
	f, err := os.Open(up.Spool)
	if err != nil {
		return Copied{}, false, false, err
	}
	defer f.Close()
	err = s.pool.Mailbox(ctx, mailbox, func(c *imapclient.Client, m *imapclient.MailboxStatus) error {
		var err error
		if copied, err = s.findStored(ctx, c, m, mailbox, f, form, look); err != nil || copied.UID != 0 {
			found = copied.UID != 0
			return err
		}
		if up.uncertain && form.binary {
			// A server may store a binary message converted (Dovecot
			// turns binary parts into base64), so not finding the bytes
			// proves nothing: sending again could store it twice.
			return ErrBinaryUncertain
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		sent = true
		before := s.appends.endedSoFar(mailbox)
		uid, err := c.Append(ctx, mailbox, imapclient.AppendMessage{Flags: up.Flags, Date: up.Date,
			Size: form.size, Body: form.reader(f), Binary: form.binary})
		s.appends.ended(c, mailbox, before, err == nil)
		copied = Copied{UIDValidity: uid.UIDValidity, UID: uid.UID}
		return err
	})
	return copied, found, sent, err
}

// uncertainGrace is how long an APPEND that lost its connection is given
// to be saved by the server before it is looked for.
const uncertainGrace = time.Second

// cutOffCheckTimeout bounds the look for an APPEND cut off by its
// caller's deadline.
const cutOffCheckTimeout = 10 * time.Second

// appendCutOff ends an Append whose APPEND was sent but cut off by the
// caller's context: found in the mailbox, it succeeded after all; else it
// failed, and stays uncertain, so that the next attempt looks first.
func (s *Store) appendCutOff(ctx context.Context, mailbox string, up *Upload, form wireForm, look *storedLook, err error) (Copied, error) {
	up.uncertain = true
	checkCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cutOffCheckTimeout)
	defer cancel()
	f, ferr := os.Open(up.Spool)
	if ferr != nil {
		return Copied{}, err
	}
	defer f.Close()
	var found Copied
	ferr = s.readMailbox(checkCtx, mailbox, func(c *imapclient.Client, m *imapclient.MailboxStatus) error {
		var err error
		found, err = s.findStored(checkCtx, c, m, mailbox, f, form, look)
		return err
	})
	if ferr == nil && found.UID != 0 {
		s.log.Info("the APPEND cut off by the deadline had arrived", "mailbox", mailbox, "uid", found.UID)
		up.uncertain = false
		return found, nil
	}
	return Copied{}, err
}

// storedLook is how an upload is looked for in a mailbox: the UID SEARCH
// that finds the candidates, and the date a candidate must have (zero:
// any).
type storedLook struct {
	criteria *imapclient.SearchCriteria
	date     time.Time
}

// lookFor makes the look for an upload: its size exactly, its Message-ID
// (where it has one that can be searched for), and, for an upload with a
// date, an INTERNALDATE within a day of it either way (SINCE and BEFORE
// take the date in the message's own zone, which may be any).
func lookFor(up *Upload, form wireForm) (*storedLook, error) {
	if form.size >= 1<<32-1 {
		return nil, fmt.Errorf("the message is %d bytes, more than IMAP can tell", form.size)
	}
	text := fmt.Sprintf("LARGER %d SMALLER %d", form.size-1, form.size+1)
	if id := messageID(up.Spool); id != "" {
		text += ` HEADER Message-ID "` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(id) + `"`
	}
	look := &storedLook{}
	if !up.Date.IsZero() {
		look.date = up.Date.Truncate(time.Second)
		day := look.date.UTC()
		text += " SINCE " + day.AddDate(0, 0, -1).Format("2-Jan-2006") + " BEFORE " + day.AddDate(0, 0, 2).Format("2-Jan-2006")
	}
	criteria, err := imapclient.ParseSearchCriteria(text)
	if err != nil {
		return nil, err
	}
	look.criteria = criteria
	return look, nil
}

// messageID returns the message's Message-ID, "" where it has none fit
// for a search (none, unreadable headers, not printable ASCII).
func messageID(spool string) string {
	f, err := os.Open(spool)
	if err != nil {
		return ""
	}
	defer f.Close()
	msg, err := mail.ReadMessage(bufio.NewReader(io.LimitReader(f, 1<<20)))
	if err != nil {
		return ""
	}
	id := strings.TrimSpace(msg.Header.Get("Message-ID"))
	if len(id) > 250 {
		return ""
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] > 0x7e {
			return ""
		}
	}
	return id
}

// findStored looks in the mailbox selected on c for the upload whose
// spool file is f: the candidates look's search finds, each fetched and
// compared with the wire form of f. It returns the message found, or a
// zero Copied.
func (s *Store) findStored(ctx context.Context, c *imapclient.Client, m *imapclient.MailboxStatus, mailbox string, f *os.File, form wireForm, look *storedLook) (Copied, error) {
	if !s.appends.current(c, mailbox, s.ttl) {
		before := s.appends.endedSoFar(mailbox)
		if err := c.Noop(ctx); err != nil {
			return Copied{}, err
		}
		s.appends.synced(c, mailbox, before)
	}
	uids, err := c.UIDSearch(ctx, look.criteria)
	if err != nil {
		return Copied{}, err
	}
	// A message holding NUL bytes is compared as BINARY gives it: BODY[]
	// may not carry a NUL (Dovecot sends 0x80 in its place).
	section := "BODY.PEEK[]"
	if form.binary {
		section = "BINARY.PEEK[]"
	}
	for _, uid := range uids {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return Copied{}, err
		}
		same := &sameBytes{want: bufio.NewReaderSize(form.reader(f), 64<<10)}
		var set imapclient.SeqSet
		set.AddNum(uid)
		msgs, err := c.UIDFetch(ctx, set, []string{imapclient.FetchUID, imapclient.FetchInternalDate, section}, &imapclient.FetchOptions{
			Body: func(msg *imapclient.FetchMessage, _ string, _ int64) io.Writer {
				if msg.UID != 0 && msg.UID != uid {
					return nil
				}
				return same
			},
		})
		if errors.Is(err, imapclient.ErrNo) {
			continue // expunged since the search, or unreadable: not this one
		}
		if err != nil {
			return Copied{}, err
		}
		var date time.Time
		for _, msg := range msgs {
			if msg.UID == uid {
				date = msg.InternalDate
			}
		}
		if same.matched() && (look.date.IsZero() || date.Equal(look.date)) {
			return Copied{UIDValidity: m.UIDValidity, UID: uid}, nil
		}
	}
	return Copied{}, nil
}

// sameBytes compares what is written to it with want as it comes, so
// that a large message is never held whole.
type sameBytes struct {
	want    io.Reader
	buf     []byte
	written bool
	differs bool
}

func (w *sameBytes) Write(p []byte) (int, error) {
	w.written = true
	if !w.differs {
		if len(w.buf) < len(p) {
			w.buf = make([]byte, len(p))
		}
		got := w.buf[:len(p)]
		if _, err := io.ReadFull(w.want, got); err != nil || !bytes.Equal(got, p) {
			w.differs = true
		}
	}
	return len(p), nil
}

// matched tells whether all that was written was want, to its end.
func (w *sameBytes) matched() bool {
	if !w.written || w.differs {
		return false
	}
	var one [1]byte
	n, _ := io.ReadFull(w.want, one[:])
	return n == 0
}

// appendState is what Append keeps between calls: which uploads are
// under way, and which APPENDs each connection's view of a mailbox shows.
type appendState struct {
	mu sync.Mutex
	// busy holds a channel, closed when done, for each message (by its
	// wire form's digest) being looked for and stored in a mailbox.
	busy map[uploadKey]chan struct{}
	// count counts the APPENDs into each mailbox that ended (stored or
	// not: it may not be known); views holds, per connection and
	// mailbox, the count up to which every APPEND is in the connection's
	// view, and when that view was last brought up to date.
	count map[string]uint64
	views map[connMailbox]view
}

type uploadKey struct {
	mailbox string
	digest  [sha256.Size]byte
}

type connMailbox struct {
	c       *imapclient.Client
	mailbox string
}

type view struct {
	upTo uint64
	at   time.Time
}

// hold waits until no other upload of the message with this digest into
// mailbox is under way, and marks this one so; done ends it.
func (a *appendState) hold(ctx context.Context, mailbox string, digest [sha256.Size]byte) (done func(), err error) {
	key := uploadKey{mailbox, digest}
	for {
		a.mu.Lock()
		wait, busy := a.busy[key]
		if !busy {
			if a.busy == nil {
				a.busy = map[uploadKey]chan struct{}{}
			}
			mine := make(chan struct{})
			a.busy[key] = mine
			a.mu.Unlock()
			return func() {
				a.mu.Lock()
				delete(a.busy, key)
				a.mu.Unlock()
				close(mine)
			}, nil
		}
		a.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// ended counts the APPENDs into mailbox that ended so far; taken before a
// command is sent, every APPEND it counts ended before the command began.
func (a *appendState) endedSoFar(mailbox string) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.count[mailbox]
}

// ended records the end of an APPEND on c, sent when the count was
// before.
// Every command brings the view of the connection it ran on up to date
// when it ends (and the APPEND's own message is in it when it succeeded):
// so c's view holds the APPENDs counted before it started, and its own
// when no other ended meanwhile.
func (a *appendState) ended(c *imapclient.Client, mailbox string, before uint64, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.count == nil {
		a.count = map[string]uint64{}
	}
	a.count[mailbox]++
	upTo := before
	if ok && a.count[mailbox] == before+1 {
		upTo = a.count[mailbox]
	}
	a.syncedLocked(c, mailbox, upTo)
}

// synced records that c's view of mailbox holds every APPEND counted up
// to upTo (c ran a NOOP that started then).
func (a *appendState) synced(c *imapclient.Client, mailbox string, upTo uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.syncedLocked(c, mailbox, upTo)
}

func (a *appendState) syncedLocked(c *imapclient.Client, mailbox string, upTo uint64) {
	if a.views == nil {
		a.views = map[connMailbox]view{}
	}
	key := connMailbox{c, mailbox}
	if old, ok := a.views[key]; ok && old.upTo > upTo {
		upTo = old.upTo
	}
	a.views[key] = view{upTo: upTo, at: time.Now()}
	for k := range a.views {
		if k.c.Err() != nil {
			delete(a.views, k) // a closed connection's
		}
	}
}

// current tells whether c's view of mailbox holds every APPEND of ours
// and was brought up to date within ttl, so that a search there needs no
// NOOP first.
func (a *appendState) current(c *imapclient.Client, mailbox string, ttl time.Duration) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	v, ok := a.views[connMailbox{c, mailbox}]
	return ok && v.upTo == a.count[mailbox] && time.Since(v.at) < ttl
}
