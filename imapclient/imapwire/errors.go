package imapwire

import (
	"errors"
	"fmt"
)

// ProtocolError reports server input that does not fit the grammar. The
// Decoder is left inside the response line, so a caller may DiscardLine to
// skip the response, or treat the connection as broken.
type ProtocolError struct {
	What  string // the token being read, e.g. "number"
	Msg   string // what was wrong with it
	Seen  string // the last bytes read before the failure, for logs
	Ahead string // the unread bytes at the failure, as far as buffered
	// Err is ErrResponseTooLarge when the response was refused for its
	// size rather than its form; nil otherwise.
	Err error
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("imap: malformed %s: %s, after %q at %q", e.What, e.Msg, e.Seen, e.Ahead)
}

func (e *ProtocolError) Unwrap() error { return e.Err }

// ErrResponseTooLarge is why a response was refused when it would have
// made the client hold more than Decoder.MaxStringSize in one token or
// Decoder.MaxResponseSize in the whole response.
var ErrResponseTooLarge = errors.New("imap: response larger than the client's limits")

// ArgumentError reports a command argument the Encoder refused to send.
type ArgumentError struct {
	What   string // the kind of argument, e.g. "mailbox"
	Value  string // the refused value; empty for strings, which may be secrets
	Reason string
}

func (e *ArgumentError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("imap: refusing %s: %s", e.What, e.Reason)
	}
	return fmt.Sprintf("imap: refusing %s %q: %s", e.What, e.Value, e.Reason)
}

// ErrPartialCommand wraps an error that stopped a command after part of it
// had reached the connection (a literal was already on its way): the server
// is left mid-command, so the connection can no longer be used.
var ErrPartialCommand = errors.New("imap: command partly sent, connection unusable")
