package imapclient

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"

	"imapfs/imapclient/imapwire"
)

// Status is a command's tagged OK: its response code (APPENDUID,
// COPYUID, READ-WRITE, ...) and text.
type Status struct {
	Code *imapwire.RespCode
	Text string
}

// untagged is one untagged response being read: "* [Num ]Name ...". The
// decoder stands right after Name.
type untagged struct {
	Name   string // in capitals
	Num    uint32
	HasNum bool
	dec    *imapwire.Decoder
}

// command is one command in flight.
type command struct {
	tag  string
	name string // for errors and routing, e.g. "UID FETCH"
	// accepts lists the untagged responses (other than the ones the Client
	// itself tracks) that belong to this command, e.g. "LIST".
	accepts []string
	// handle reads the rest of an accepted untagged response.
	handle func(u *untagged) error
	// statusData, when set, receives the STATUS responses routed to this
	// command (see routeStatus); statusFor is the mailbox (its listKey) a
	// STATUS command asks about, "" for LIST-STATUS, which takes any.
	statusData func(sd *StatusData)
	statusFor  string
	// fetch, when set, receives the FETCH responses this command asked for.
	fetch *fetchTarget
	// onExpunge, when set, sees expunges while the command runs.
	onExpunge func(Update)
	// onStatus, when set, sees the untagged OK/NO/BAD responses that come
	// while the command is the oldest pending one that has onStatus (MOVE's
	// COPYUID arrives in an untagged OK before the expunges).
	onStatus func(StatusUpdate)
	// cont receives the server's next "+" while the command is being sent.
	cont chan continuation
	// afterOK runs on the reader goroutine right after the tagged OK,
	// before anything more is read (STARTTLS's handshake).
	afterOK func() error
	// completed, when set, runs on the reader goroutine when the tagged
	// response comes, whatever it says, before the command finishes and
	// before anything more is read (see ExamineEach).
	completed func(ok *Status, err error)
	// heldBack (under Client.mu): the command takes no FETCH responses
	// yet (see ExamineEach).
	heldBack bool
	// sent, when set, runs once the command was written, or failed to be
	// (FetchOptions.Sent).
	sent func()

	done   chan struct{}
	status *Status
	err    error

	// deliverMu is held while data is handed to the caller's buffers, so
	// that once the caller gave up (abandoned) nothing touches them again.
	deliverMu sync.Mutex
	abandoned bool
	dataErr   error // the first malformed response of this command
}

// setDataErr records the first problem with the command's responses; the
// command then fails with it. Only the reader goroutine calls it.
func (cmd *command) setDataErr(err error) {
	if cmd.dataErr == nil {
		cmd.dataErr = err
	}
}

func newCommand(name string, accepts ...string) *command {
	return &command{name: name, accepts: accepts, done: make(chan struct{})}
}

func (cmd *command) takes(name string) bool {
	for _, a := range cmd.accepts {
		if a == name {
			return true
		}
	}
	return false
}

// finish completes the command once.
func (cmd *command) finish(status *Status, err error) {
	select {
	case <-cmd.done:
		return
	default:
	}
	cmd.status, cmd.err = status, err
	close(cmd.done)
}

// abandon stops the delivery of data to the caller, who stopped waiting.
func (cmd *command) abandon() {
	cmd.deliverMu.Lock()
	cmd.abandoned = true
	cmd.deliverMu.Unlock()
}

// deliver runs f, which hands data to the caller, unless the caller left.
func (cmd *command) deliver(f func()) {
	cmd.deliverMu.Lock()
	defer cmd.deliverMu.Unlock()
	if !cmd.abandoned {
		f()
	}
}

type sentKey struct{}

// WhenSent returns a copy of ctx under which each command, once written
// to the server (or once it failed to be), calls sent: for a caller that
// sends another command right behind it, in that order, without waiting
// for its answer (a NOOP ahead of a LIST, say). FetchOptions.Sent is the
// same for one FETCH.
func WhenSent(ctx context.Context, sent func()) context.Context {
	return context.WithValue(ctx, sentKey{}, sent)
}

// execute sends a command built by args after its tag, waits for its
// completion and returns its tagged OK, or the error: a *StatusError for NO
// and BAD, ErrAbort when the connection failed, the context's error when
// ctx ended first. A command cancelled while waiting leaves the connection
// in step: its responses are read and dropped when they come. One
// cancelled while still being written (a large literal) closes the
// connection.
func (c *Client) execute(ctx context.Context, cmd *command, args func(e *imapwire.Encoder)) (*Status, error) {
	defer c.watchCommand(ctx)()
	if cmd.sent == nil {
		cmd.sent, _ = ctx.Value(sentKey{}).(func())
	}
	err := c.lockForSending(ctx, cmd)
	if err == nil {
		err = c.send(ctx, cmd, args)
		c.disarmContinuation()
		c.writeMu.Unlock()
	}
	if cmd.sent != nil {
		cmd.sent()
	}
	if err != nil {
		return nil, err
	}
	return c.wait(ctx, cmd)
}

// lockForSending takes writeMu once no pending command conflicts with
// cmds (one command, or a batch sent together), waiting (as long as ctx
// allows) for those that do to complete. The check and the registration
// in send happen under the same writeMu, so no conflicting command can
// slip in between.
func (c *Client) lockForSending(ctx context.Context, cmds ...*command) error {
	for {
		c.writeMu.Lock()
		var cmd, blocker *command
		for _, cmd = range cmds {
			if blocker = c.conflicting(cmd); blocker != nil {
				break
			}
		}
		if blocker == nil {
			return nil
		}
		c.writeMu.Unlock()
		c.tr.note("holding " + cmd.name + " until " + blocker.tag + " " + blocker.name +
			" completes: their responses could not be told apart")
		select {
		case <-blocker.done:
		case <-c.closed:
			return c.Err()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// conflicting returns a pending command whose untagged responses could
// not be told apart from cmd's, or nil.
func (c *Client) conflicting(cmd *command) *command {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.pending {
		if cmd.conflictsWith(p) {
			return p
		}
	}
	return nil
}

// conflictsWith reports whether cmd and other must not be outstanding
// together because a response could belong to either (RFC 3501 5.5):
//
//   - both take an untagged response of the same name (SEARCH, SORT,
//     THREAD, LIST, LSUB, STATUS, ACL, QUOTA, ...), except ESEARCH, which
//     names its command in its TAG correlator, and STATUS of different
//     mailboxes, whose responses name their mailbox;
//   - both see expunges (EXPUNGE, UID EXPUNGE, MOVE, UID MOVE), or both
//     watch untagged status responses (MOVE's COPYUID);
//   - both take FETCH responses (FETCH, UID FETCH, STORE without
//     .SILENT) that can be told apart neither by message (see
//     fetchTarget.mayShareMessages) nor by the items they carry (see
//     fetchTarget.wants).
func (cmd *command) conflictsWith(other *command) bool {
	if cmd.onExpunge != nil && other.onExpunge != nil {
		return true
	}
	if cmd.onStatus != nil && other.onStatus != nil {
		return true
	}
	if cmd.fetch != nil && other.fetch != nil && cmd.fetch.conflictsWith(other.fetch) {
		return true
	}
	for _, name := range cmd.accepts {
		if name == "ESEARCH" || name == "STATUS" && cmd.statusFor != "" && other.statusFor != "" && cmd.statusFor != other.statusFor {
			continue
		}
		if other.takes(name) {
			return true
		}
	}
	return false
}

// send writes the command; writeMu must be held, and the caller disarms
// the continuation when it is done with the command's "+"s. An error means
// the command is over (refused before sending, refused at a literal, or
// the connection failed).
func (c *Client) send(ctx context.Context, cmd *command, args func(e *imapwire.Encoder)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.Err(); err != nil {
		return err
	}
	tag := c.register(cmd)
	c.armContinuation(cmd)
	stop := context.AfterFunc(ctx, func() { c.fail(ctx.Err()) })
	enc := imapwire.NewEncoder(c.bw, c.encoderOptions(ctx, cmd))
	enc.Tag(tag).SP()
	args(enc)
	err := enc.CRLF()
	if err == nil {
		err = c.bw.Flush()
	}
	if !stop() {
		// ctx ended mid-write and closed the connection.
		return ctx.Err()
	}
	if err == nil {
		return nil
	}
	var argErr *imapwire.ArgumentError
	var statusErr *StatusError
	switch {
	case errors.Is(err, imapwire.ErrPartialCommand):
		c.fail(err)
		return c.Err()
	case errors.As(err, &statusErr):
		// The server refused a synchronizing literal: the command is over.
		return err
	case errors.As(err, &argErr):
		// Refused before anything was sent: the connection is fine.
		c.unregister(cmd)
		return err
	default:
		c.fail(err)
		return c.Err()
	}
}

func (c *Client) disarmContinuation() {
	c.mu.Lock()
	c.continueCh = nil
	c.mu.Unlock()
}

// wait waits for the command's completion.
func (c *Client) wait(ctx context.Context, cmd *command) (*Status, error) {
	select {
	case <-cmd.done: // done, even if ctx ended since: its answer is whole
	default:
		select {
		case <-cmd.done:
		case <-ctx.Done():
			cmd.abandon()
			return nil, ctx.Err()
		}
	}
	if cmd.err == nil && cmd.dataErr != nil {
		return cmd.status, cmd.dataErr
	}
	return cmd.status, cmd.err
}

// register queues cmd as pending and returns its new tag.
func (c *Client) register(cmd *command) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextTag++
	c.opts.countCommand(len(c.pending) > 0)
	tag := "T" + strconv.FormatUint(c.nextTag, 10)
	cmd.tag = tag
	c.pending = append(c.pending, cmd)
	return tag
}

func (c *Client) unregister(cmd *command) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, p := range c.pending {
		if p == cmd {
			c.pending = slices.Delete(c.pending, i, i+1)
			return
		}
	}
}

// encoderOptions lets the encoder use the literal forms the server has, and
// wait for continuations through the reader.
func (c *Client) encoderOptions(ctx context.Context, cmd *command) imapwire.EncoderOptions {
	caps := c.Capabilities()
	return imapwire.EncoderOptions{
		LiteralPlus:  caps.Has("LITERAL+"),
		LiteralMinus: caps.Has("LITERAL-"),
		UTF8:         c.Enabled("UTF8=ACCEPT"),
		Continue: func() error {
			_, err := c.awaitContinuation(ctx, cmd)
			return err
		},
	}
}

// armContinuation makes the next "+" from the server go to cmd. It is
// called with writeMu held, before anything that can draw a "+" is
// flushed, so the reader always has somewhere to put it. The command keeps
// the channel too: the reader may take the "+" before the command looks.
func (c *Client) armContinuation(cmd *command) {
	ch := make(chan continuation, 1)
	c.mu.Lock()
	c.continueCh = ch
	c.mu.Unlock()
	cmd.cont = ch
}

// awaitContinuation waits for the server's "+" (returning its text) or for
// the end of cmd (returning its error, or errNoContinuation if it ended
// well). It re-arms for the next "+" before returning. Called with writeMu
// held.
func (c *Client) awaitContinuation(ctx context.Context, cmd *command) (string, error) {
	select {
	case r := <-cmd.cont:
		c.armContinuation(cmd)
		return r.text, r.err
	case <-cmd.done:
		if cmd.err != nil {
			return "", cmd.err
		}
		return "", errNoContinuation
	case <-c.closed:
		return "", c.Err()
	case <-ctx.Done():
		// The server waits for data we will not send: only closing helps.
		c.fail(ctx.Err())
		return "", ctx.Err()
	}
}

// errNoContinuation: the command ended with OK where a "+" was expected.
var errNoContinuation = errors.New("imap: command completed without the continuation it needed")

// simple runs a command without arguments of its own beyond args, taking
// no untagged data.
func (c *Client) simple(ctx context.Context, name string, args ...string) (*Status, error) {
	return c.execute(ctx, newCommand(name), func(e *imapwire.Encoder) {
		e.Atom(name)
		for _, a := range args {
			e.SP().Atom(a)
		}
	})
}

// statusError builds the error of a tagged NO or BAD.
func statusError(cmd *command, typ string, code *imapwire.RespCode, text string) *StatusError {
	return &StatusError{Command: cmd.name, Type: strings.ToUpper(typ), Code: code, Text: text}
}
