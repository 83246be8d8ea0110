//go:build !linux

package imapclient

// unsentBytes: only Linux tells here how much a socket has yet to send.
func unsentBytes(conn any) (int64, bool) { return 0, false }
