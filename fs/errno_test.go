package fs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"imapfs/imapclient"
	"imapfs/imapclient/imapwire"
)

func no(code string) error {
	return fmt.Errorf("wrapped: %w", &imapclient.StatusError{Command: "CREATE", Type: "NO", Code: &imapwire.RespCode{Name: code}, Text: "server says"})
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want syscall.Errno
	}{
		{no(imapwire.CodeAlreadyExists), syscall.EEXIST},
		{no(imapwire.CodeNonExistent), syscall.ENOENT},
		{no(imapwire.CodeTryCreate), syscall.ENOENT},
		{no(imapwire.CodeNoPerm), syscall.EACCES},
		{no(imapwire.CodeOverQuota), syscall.EDQUOT},
		{no(imapwire.CodeHasChildren), syscall.ENOTEMPTY},
		{no(imapwire.CodeBadCharset), syscall.EINVAL},
		{no("X-SOMETHING"), syscall.EIO},
		{&imapclient.StatusError{Command: "DELETE", Type: "NO", Text: "no code"}, syscall.EIO},
		{&imapclient.StatusError{Command: "APPEND", Type: "NO", Text: "Over quota"}, syscall.EDQUOT},
		{imapclient.ErrReadOnly, syscall.EACCES},
		{&imapclient.StatusError{Command: "CREATE", Type: "NO", Text: "Permission denied"}, syscall.EACCES},
		{&imapclient.StatusError{Command: "CREATE", Type: "NO", Text: "Invalid mailbox name"}, syscall.EINVAL},
		{&imapclient.StatusError{Command: "APPEND", Type: "NO", Text: "Message contains invalid header"}, syscall.EINVAL},
		{&imapclient.StatusError{Command: "FETCH", Type: "BAD", Text: "Error in IMAP command FETCH: Invalid messageset"}, syscall.EIO},
		{&imapclient.StatusError{Command: "LOGIN", Type: "NO", Text: "Invalid credentials"}, syscall.EIO},
		{fmt.Errorf("cannot connect: %w", &imapclient.StatusError{Command: "LOGIN", Type: "NO", Code: &imapwire.RespCode{Name: imapwire.CodeLimit}}), syscall.EAGAIN},
		{&imapclient.StatusError{Command: "APPEND", Type: "NO", Code: &imapwire.RespCode{Name: imapwire.CodeLimit}}, syscall.EDQUOT},
		{&imapclient.NotSupportedError{Capability: "UIDPLUS"}, syscall.EOPNOTSUPP},
		{&imapwire.ArgumentError{What: "mailbox", Reason: "CR"}, syscall.EINVAL},
		{errBadName, syscall.EINVAL},
		{&imapclient.AbortError{Err: errors.New("reset")}, syscall.EIO},
		{context.DeadlineExceeded, syscall.EIO},
		{context.Canceled, syscall.EINTR},
		{syscall.ENOTDIR, syscall.ENOTDIR},
		{fmt.Errorf("%w: %w", imapclient.ErrUnreachable, &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ENETUNREACH)}), syscall.EIO},
		{fmt.Errorf("%w: %w", imapclient.ErrUnreachable, &imapclient.StatusError{Command: "LOGIN", Type: "NO", Code: &imapwire.RespCode{Name: imapwire.CodeUnavailable}}), syscall.EAGAIN},
	} {
		if got := classify(tc.err); got != tc.want {
			t.Errorf("classify(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// An error that becomes EIO loses its detail for the user: it is logged.
func TestEIOIsLogged(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	if err := errnoFor(log, "read 7.eml", &imapclient.AbortError{Err: errors.New("connection reset")}); err != syscall.EIO {
		t.Fatalf("errno %v", err)
	}
	if !strings.Contains(buf.String(), "read 7.eml failed") || !strings.Contains(buf.String(), "connection reset") {
		t.Errorf("log: %q", buf.String())
	}
	if errnoFor(log, "x", nil) != nil {
		t.Error("nil error mapped to an errno")
	}
}
