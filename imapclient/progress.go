package imapclient

import (
	"context"
	"io"
	"sync"
	"time"
)

// WithIdleTimeout returns a copy of parent for a transfer of any length:
// a message stored or read over a slow link. It sets no deadline; it ends,
// with context.DeadlineExceeded as its Err, when d passes without a byte
// moving on the connections its commands use. Waiting for a connection,
// or for a command to start, moves nothing, so those are bounded by d as
// a deadline would bound them. The cancel function releases its timer.
func WithIdleTimeout(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	w := &idleContext{parent: parent, d: d, done: make(chan struct{}), lastMove: time.Now(),
		running: map[*Client][]int64{}}
	w.mu.Lock() // the callbacks below wait until both are set
	w.timer = time.AfterFunc(w.period(), w.check)
	w.stopParent = context.AfterFunc(parent, func() { w.end(parent.Err()) })
	w.mu.Unlock()
	return w, func() { w.end(context.Canceled) }
}

// IdleTimeout returns the bound of the WithIdleTimeout context ctx is, or
// derives from.
func IdleTimeout(ctx context.Context) (time.Duration, bool) {
	if w := idleFrom(ctx); w != nil {
		return w.d, true
	}
	return 0, false
}

// ShareProgress makes what moves for the commands run under other count
// as progress for ctx too, until stop is called: for a caller that waits
// on a transfer another started. It does nothing unless both come from
// WithIdleTimeout.
func ShareProgress(ctx, other context.Context) (stop func()) {
	w, o := idleFrom(ctx), idleFrom(other)
	if w == nil || o == nil || w == o {
		return func() {}
	}
	w.mu.Lock()
	w.shared = append(w.shared, o)
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		for i, s := range w.shared {
			if s == o {
				w.moved += o.progress()
				w.shared = append(w.shared[:i], w.shared[i+1:]...)
				return
			}
		}
	}
}

type idleKey struct{}

func idleFrom(ctx context.Context) *idleContext {
	w, _ := ctx.Value(idleKey{}).(*idleContext)
	return w
}

// idleContext is the context WithIdleTimeout returns. Progress is a
// count that grows whenever a byte moves for it: on the connections of
// its commands while they run (Client.activity), and for the contexts it
// shares progress with.
type idleContext struct {
	parent     context.Context
	d          time.Duration
	done       chan struct{}
	stopParent func() bool
	timer      *time.Timer

	mu       sync.Mutex
	err      error
	running  map[*Client][]int64 // the activity of each client when a command began on it
	shared   []*idleContext
	moved    int64 // progress of commands over and contexts no longer shared
	lastSeen int64 // progress at the last check
	lastMove time.Time
}

func (w *idleContext) Deadline() (time.Time, bool) { return w.parent.Deadline() }
func (w *idleContext) Done() <-chan struct{}       { return w.done }

func (w *idleContext) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *idleContext) Value(key any) any {
	if key == (idleKey{}) {
		return w
	}
	return w.parent.Value(key)
}

// period is how often progress is looked at: the context ends at most a
// quarter of d late.
func (w *idleContext) period() time.Duration { return max(w.d/4, time.Millisecond) }

func (w *idleContext) end(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return
	}
	w.err = err
	w.timer.Stop()
	w.stopParent()
	close(w.done)
}

// check ends the context when nothing moved for d, and otherwise looks
// again later.
func (w *idleContext) check() {
	w.mu.Lock()
	if w.err != nil {
		w.mu.Unlock()
		return
	}
	now := time.Now()
	if p := w.progressLocked(); p != w.lastSeen {
		w.lastSeen, w.lastMove = p, now
	}
	idle := now.Sub(w.lastMove)
	if idle < w.d {
		w.timer.Reset(min(w.period(), w.d-idle))
		w.mu.Unlock()
		return
	}
	w.mu.Unlock()
	w.end(context.DeadlineExceeded)
}

func (w *idleContext) progress() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.progressLocked()
}

func (w *idleContext) progressLocked() int64 {
	p := w.moved
	for c, starts := range w.running {
		now := c.activity()
		for _, start := range starts {
			p += now - start
		}
	}
	for _, o := range w.shared {
		p += o.progress()
	}
	return p
}

// running counts what moves on c as progress until the returned function
// is called, when a command ends.
func (w *idleContext) run(c *Client) (done func()) {
	start := c.activity()
	w.mu.Lock()
	w.running[c] = append(w.running[c], start)
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.moved += c.activity() - start
		starts := w.running[c]
		for i, s := range starts {
			if s == start {
				starts = append(starts[:i], starts[i+1:]...)
				break
			}
		}
		if len(starts) == 0 {
			delete(w.running, c)
		} else {
			w.running[c] = starts
		}
	}
}

// watchCommand makes a command's connection count for the idle timeout of
// its context, if it has one.
func (c *Client) watchCommand(ctx context.Context) (done func()) {
	if w := idleFrom(ctx); w != nil {
		return w.run(c)
	}
	return func() {}
}

// activity is a count that grows whenever bytes move on the connection:
// read, written, or (where the system tells) sent from the socket's queue
// to the server, so that a large write the system buffers still shows
// progress as it drains.
func (c *Client) activity() int64 {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	c.meterMu.Lock()
	defer c.meterMu.Unlock()
	if queued, ok := unsentBytes(conn); ok {
		if queued < c.queued {
			c.moved.Add(c.queued - queued)
		}
		c.queued = queued
	}
	return c.moved.Load()
}

// meteredReader and meteredWriter count the bytes that move on the
// connection (Client.activity, and Options.Counters).
type meteredReader struct {
	r io.Reader
	c *Client
}

func (m meteredReader) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	m.c.moved.Add(int64(n))
	m.c.opts.countBytes(true, n)
	return n, err
}

type meteredWriter struct {
	w io.Writer
	c *Client
}

// meterChunk is how much is written at once, so that a write blocked on a
// slow link shows progress as each piece leaves. TLS cuts records no
// larger, so this costs no extra record.
const meterChunk = 16 << 10

func (m meteredWriter) Write(p []byte) (int, error) {
	written := 0
	for written < len(p) {
		n, err := m.w.Write(p[written:min(len(p), written+meterChunk)])
		written += n
		m.c.moved.Add(int64(n))
		m.c.opts.countBytes(false, n)
		if err != nil {
			return written, err
		}
	}
	return written, nil
}
