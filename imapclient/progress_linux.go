package imapclient

import (
	"crypto/tls"
	"syscall"
	"unsafe"
)

// unsentBytes returns how many bytes a TCP connection still holds in its
// send queue (SIOCOUTQ), so that the queue draining counts as progress.
func unsentBytes(conn any) (int64, bool) {
	if t, ok := conn.(*tls.Conn); ok {
		conn = t.NetConn()
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return 0, false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var n int32
	var errno syscall.Errno
	if err := raw.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&n)))
	}); err != nil || errno != 0 {
		return 0, false
	}
	return int64(n), true
}
