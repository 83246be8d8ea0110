package imapclient

import "sync/atomic"

// Counters counts what connections sent and received. One Counters may be
// shared by every connection of a pool (Options.Counters), for a total.
type Counters struct {
	Commands atomic.Int64 // tagged commands sent: the round trips asked of the server
	BytesIn  atomic.Int64 // protocol bytes read from the server (TLS records not counted)
	BytesOut atomic.Int64 // protocol bytes written to the server
}

// countBytes adds n bytes read (in) or written to the counters, when
// there are any; the connection's meteredReader and meteredWriter call it.
func (o *Options) countBytes(in bool, n int) {
	switch {
	case o.Counters == nil:
	case in:
		o.Counters.BytesIn.Add(int64(n))
	default:
		o.Counters.BytesOut.Add(int64(n))
	}
}

// countCommand counts one command sent.
func (o *Options) countCommand() {
	if o.Counters != nil {
		o.Counters.Commands.Add(1)
	}
}
