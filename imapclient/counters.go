package imapclient

import (
	"io"
	"sync/atomic"
)

// Counters counts what connections sent and received. One Counters may be
// shared by every connection of a pool (Options.Counters), for a total.
type Counters struct {
	Commands atomic.Int64 // tagged commands sent: the round trips asked of the server
	BytesIn  atomic.Int64 // protocol bytes read from the server (TLS records not counted)
	BytesOut atomic.Int64 // protocol bytes written to the server
}

// countingReader adds what it reads to a counter.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// countingWriter adds what it writes to a counter.
type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// counted wraps a connection's two directions in counters, when there
// are any.
func (o *Options) counted(conn io.ReadWriter) (io.Reader, io.Writer) {
	if o.Counters == nil {
		return conn, conn
	}
	return countingReader{conn, &o.Counters.BytesIn}, countingWriter{conn, &o.Counters.BytesOut}
}

// countCommand counts one command sent.
func (o *Options) countCommand() {
	if o.Counters != nil {
		o.Counters.Commands.Add(1)
	}
}
