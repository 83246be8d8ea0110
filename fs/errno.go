package fs

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"syscall"

	"bazil.org/fuse"

	"imapfs/cache"
	"imapfs/imapclient"
	"imapfs/imapclient/imapwire"
)

// errnoFor maps an error from below (imapclient, cache) to the errno a
// user of the mount sees. bazil turns anything that is not an errno into
// EIO, so every error leaving a FUSE handler goes through here, and the
// ones that lose detail on the way (EIO) are logged with the server's text,
// except while the server cannot be reached: the pool and the store log
// that once, not once per request.
func errnoFor(log *slog.Logger, op string, err error) error {
	if err == nil {
		return nil
	}
	errno := classify(err)
	if errno == syscall.EIO && !errors.Is(err, imapclient.ErrUnreachable) {
		log.Error(op+" failed", "err", err)
	} else {
		log.Debug(op+" failed", "errno", errno.Error(), "err", err)
	}
	return errno
}

// classify picks the errno for an error.
func classify(err error) syscall.Errno {
	var errno syscall.Errno
	var fuseErrno fuse.Errno
	var status *imapclient.StatusError
	var argErr *imapwire.ArgumentError
	switch {
	case errors.Is(err, imapclient.ErrUnreachable) && !errors.As(err, &status):
		// Whatever the network said (ECONNREFUSED, EHOSTUNREACH...): a
		// request the server is needed for fails as when it does not
		// answer. (A login it refuses is told apart below.)
		return syscall.EIO
	case errors.As(err, &errno):
		return errno
	case errors.As(err, &fuseErrno):
		return syscall.Errno(fuseErrno)
	case errors.Is(err, errBadName), errors.As(err, &argErr), errors.Is(err, cache.ErrNUL):
		return syscall.EINVAL
	case errors.Is(err, imapclient.ErrReadOnly):
		// The mount is not read-only (that is refused before asking the
		// server): the server opened the mailbox read-only, for want of
		// rights.
		return syscall.EACCES
	case errors.Is(err, imapclient.ErrNotSupported):
		return syscall.EOPNOTSUPP
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	case errors.As(err, &status):
		return statusErrno(status)
	}
	// Aborted connections, timeouts, malformed responses.
	return syscall.EIO
}

// statusErrno maps a server's NO or BAD by its response code (RFC 5530).
func statusErrno(e *imapclient.StatusError) syscall.Errno {
	if e.Code == nil {
		// Cyrus says "NO Over quota", "NO Permission denied", "NO Invalid
		// mailbox name" and "NO Message contains invalid header" without
		// the response codes. (A BAD is a bug of ours: EIO, logged.)
		text := strings.ToLower(e.Text)
		switch {
		case e.Type != "NO":
		case strings.Contains(text, "quota"):
			return syscall.EDQUOT
		case strings.Contains(text, "permission denied"):
			return syscall.EACCES
		case strings.Contains(text, "invalid mailbox name"), strings.Contains(text, "invalid header"):
			return syscall.EINVAL
		}
		return syscall.EIO
	}
	if e.Command == "LOGIN" || e.Command == "AUTHENTICATE" {
		// At login, LIMIT and UNAVAILABLE say the account has all the
		// connections it may have: try again, not a full disk.
		if e.Code.Name == imapwire.CodeLimit || e.Code.Name == imapwire.CodeUnavailable {
			return syscall.EAGAIN
		}
	}
	switch e.Code.Name {
	case imapwire.CodeAlreadyExists:
		return syscall.EEXIST
	case imapwire.CodeNonExistent, imapwire.CodeTryCreate, imapwire.CodeExpunged:
		return syscall.ENOENT
	case imapwire.CodeNoPerm, imapwire.CodeAuthorizationFailed:
		return syscall.EACCES
	case imapwire.CodeOverQuota, imapwire.CodeLimit:
		return syscall.EDQUOT
	case imapwire.CodeInUse:
		return syscall.EBUSY
	case imapwire.CodeCannot:
		return syscall.EPERM
	case imapwire.CodeHasChildren:
		return syscall.ENOTEMPTY
	case imapwire.CodeBadCharset, imapwire.CodeParse, imapwire.CodeClientBug:
		return syscall.EINVAL
	case imapwire.CodeReadOnly:
		return syscall.EACCES
	case imapwire.CodeUnavailable:
		return syscall.EAGAIN
	}
	return syscall.EIO
}
