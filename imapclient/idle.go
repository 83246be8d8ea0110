package imapclient

import (
	"context"
	"sync"

	"imapfs/imapclient/imapwire"
)

// IdleCommand is a running IDLE (RFC 2177). End it with Done.
type IdleCommand struct {
	c    *Client
	cmd  *command
	once sync.Once
}

// Idle starts IDLE and returns once the server accepted it (its "+").
// While it runs, the server's updates (new messages as ExistsUpdate,
// expunges, flag changes) reach Options.Updates as they come.
//
// An IDLE owns the connection: no other command may be sent until DONE,
// so other callers' commands wait (their contexts do not cut that wait
// short) until Done is called or ctx ends. Idle on a connection of its
// own, or end IDLE before anything else. When ctx ends, DONE is sent
// for the caller and the connection stays usable; ending ctx before
// the server's "+" arrives closes the connection instead, the only way
// out of a half-started command.
func (c *Client) Idle(ctx context.Context) (*IdleCommand, error) {
	if !c.Has("IDLE") {
		return nil, &NotSupportedError{Capability: "IDLE"}
	}
	cmd := newCommand("IDLE")
	c.writeMu.Lock()
	err := c.send(ctx, cmd, func(e *imapwire.Encoder) { e.Atom("IDLE") })
	if err == nil {
		_, err = c.awaitContinuation(ctx, cmd)
	}
	c.disarmContinuation()
	if err != nil {
		c.writeMu.Unlock()
		return nil, err
	}
	// writeMu stays locked until stop has written DONE.
	ic := &IdleCommand{c: c, cmd: cmd}
	go func() {
		select {
		case <-ctx.Done():
		case <-cmd.done: // the server or the connection ended it
		}
		ic.stop()
	}()
	return ic, nil
}

// Done ends the IDLE: it sends DONE (once, however often it is called)
// and waits for the server's tagged OK, returning its error if the IDLE
// failed.
func (ic *IdleCommand) Done(ctx context.Context) error {
	ic.stop()
	_, err := ic.c.wait(ctx, ic.cmd)
	return err
}

// Finished is closed when the IDLE is over: completed after DONE, or
// ended by the server or a broken connection.
func (ic *IdleCommand) Finished() <-chan struct{} { return ic.cmd.done }

// stop writes DONE unless the IDLE already ended, and lets other commands
// be written again. The write is not bounded by a context: six bytes on a
// connection that has been idle do not block, and a caller's expired
// context must not turn a clean DONE into a closed connection.
func (ic *IdleCommand) stop() {
	ic.once.Do(func() {
		c := ic.c
		defer c.writeMu.Unlock()
		select {
		case <-ic.cmd.done:
			return
		default:
		}
		err := imapwire.NewEncoder(c.bw, imapwire.EncoderOptions{}).Atom("DONE").CRLF()
		if err == nil {
			err = c.bw.Flush()
		}
		if err != nil {
			c.fail(err)
		}
	})
}
