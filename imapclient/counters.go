package imapclient

import "sync/atomic"

// Counters counts what connections sent and received. One Counters may be
// shared by every connection of a pool (Options.Counters), for a total.
type Counters struct {
	Commands atomic.Int64 // tagged commands sent
	// RoundTrips counts the commands sent while none of the connection's
	// was outstanding: each begins a wait for the server. Commands
	// pipelined behind another share its wait and are not counted; so
	// it is the least number of round trips the commands cost.
	RoundTrips atomic.Int64
	BytesIn    atomic.Int64 // protocol bytes read from the server (TLS records not counted)
	BytesOut   atomic.Int64 // protocol bytes written to the server
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

// countCommand counts one command sent; pipelined: others of the
// connection were outstanding.
func (o *Options) countCommand(pipelined bool) {
	if o.Counters != nil {
		o.Counters.Commands.Add(1)
		if !pipelined {
			o.Counters.RoundTrips.Add(1)
		}
	}
}
