package imapclient

import (
	"errors"
	"fmt"

	"imapfs/imapclient/imapwire"
)

// The kinds of failure, as imaplib distinguishes them (IMAP4.error,
// IMAP4.abort, IMAP4.readonly). Test with errors.Is; get the details with
// errors.As on *StatusError.
var (
	// ErrNo: the server refused the command (tagged NO).
	ErrNo = errors.New("imap: NO")
	// ErrBad: the server did not understand the command (tagged BAD).
	ErrBad = errors.New("imap: BAD")
	// ErrAbort: the connection is gone or unusable (BYE, broken connection,
	// a response that cannot be parsed, a command cut off half-sent). Every
	// later call on the Client fails with it too.
	ErrAbort = errors.New("imap: connection aborted")
	// ErrReadOnly: the selected mailbox became read-only (an untagged
	// OK [READ-ONLY]), so commands that change it are not sent.
	ErrReadOnly = errors.New("imap: mailbox is read-only")
	// ErrNotSupported: the server lacks the capability the call needs.
	ErrNotSupported = errors.New("imap: not supported by the server")
)

// StatusError is a tagged NO or BAD.
type StatusError struct {
	Command string             // e.g. "UID FETCH"
	Type    string             // "NO" or "BAD"
	Code    *imapwire.RespCode // the response code, if the server gave one
	Text    string
}

func (e *StatusError) Error() string {
	code := ""
	if e.Code != nil {
		code = "[" + e.Code.Name
		if e.Code.Raw != "" {
			code += " " + e.Code.Raw
		}
		code += "] "
	}
	return fmt.Sprintf("imap: %s: %s %s%s", e.Command, e.Type, code, e.Text)
}

func (e *StatusError) Is(target error) bool {
	return (target == ErrNo && e.Type == "NO") || (target == ErrBad && e.Type == "BAD")
}

// HasCode reports whether the server's response code is name (e.g.
// imapwire.CodeOverQuota).
func (e *StatusError) HasCode(name string) bool { return e.Code != nil && e.Code.Name == name }

// AbortError says why the connection ended.
type AbortError struct{ Err error }

func (e *AbortError) Error() string { return "imap: connection aborted: " + e.Err.Error() }
func (e *AbortError) Unwrap() error { return e.Err }
func (e *AbortError) Is(target error) bool {
	return target == ErrAbort
}

// ByeError is the server's goodbye: an untagged BYE it sent before closing.
type ByeError struct {
	Code *imapwire.RespCode
	Text string
}

func (e *ByeError) Error() string { return "imap: server said BYE: " + e.Text }

// NotSupportedError names the capability a call needs.
type NotSupportedError struct{ Capability string }

func (e *NotSupportedError) Error() string {
	return "imap: the server does not support " + e.Capability
}
func (e *NotSupportedError) Is(target error) bool { return target == ErrNotSupported }
