package test

import (
	"bytes"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Direction is a way bytes go through a Proxy.
type Direction int

const (
	ToServer Direction = 1 << iota // from the client to the server
	ToClient                       // from the server to the client
	BothWays = ToServer | ToClient
)

func (d Direction) String() string {
	switch d {
	case ToServer:
		return "to server"
	case ToClient:
		return "to client"
	case BothWays:
		return "both ways"
	}
	return "no direction"
}

// ProxyOptions are a Proxy's delays and bandwidth; SetDelay and
// SetBandwidth change them later.
type ProxyOptions struct {
	// Delay is how long each direction holds every chunk of bytes (a
	// one-way network latency). Bytes keep their order: a chunk is sent
	// no earlier than its arrival plus the delay, so pipelined bytes do
	// not add up delays.
	Delay time.Duration
	// ToServerDelay and ToClientDelay, when set, replace Delay for one
	// direction.
	ToServerDelay, ToClientDelay time.Duration
	// Bandwidth, when set, is how many bytes a second each direction
	// carries (a slow link); 0 is no limit. The proxy then reads no
	// faster than that and keeps small socket buffers on connections
	// opened while a limit is set, so a sender feels the link as it
	// would a real one, not only its receiver.
	Bandwidth int64
	// ToServerBandwidth and ToClientBandwidth, when set, replace
	// Bandwidth for one direction.
	ToServerBandwidth, ToClientBandwidth int64
}

// Proxy is a TCP proxy on loopback in front of a server, adding latency and
// faults to the connections that go through it: cuts after a number of
// bytes or at a client command, stalls, dropped and refused connections.
// It only forwards bytes, so TLS (implicit, or after STARTTLS) goes through
// untouched; commands can be recognized only in plaintext. Start one with
// StartProxy; it stops when the test ends.
type Proxy struct {
	Addr   string // the proxy's address, 127.0.0.1:port
	Port   int
	Target string // the server's address

	ln      net.Listener
	delay   [2]atomic.Int64 // by direction index: ToServer, ToClient
	rate    [2]atomic.Int64 // bytes a second by direction index; 0: no limit
	accepts atomic.Int64
	bytes   [2]atomic.Int64
	wg      sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	refusing int
	conns    map[*proxyConn]bool
	faults   []*Armed
	changed  chan struct{} // closed (and replaced) when a fault changes
}

// StartProxy listens on a free loopback port and forwards every connection
// it accepts to target. It is closed, with every connection through it,
// when the test ends.
func StartProxy(t T, target string, opts ProxyOptions) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy: listen: %v", err)
	}
	p := &Proxy{
		Addr:    ln.Addr().String(),
		Port:    ln.Addr().(*net.TCPAddr).Port,
		Target:  target,
		ln:      ln,
		conns:   map[*proxyConn]bool{},
		changed: make(chan struct{}),
	}
	p.SetDelay(BothWays, opts.Delay)
	if opts.ToServerDelay != 0 {
		p.SetDelay(ToServer, opts.ToServerDelay)
	}
	if opts.ToClientDelay != 0 {
		p.SetDelay(ToClient, opts.ToClientDelay)
	}
	p.SetBandwidth(BothWays, opts.Bandwidth)
	if opts.ToServerBandwidth != 0 {
		p.SetBandwidth(ToServer, opts.ToServerBandwidth)
	}
	if opts.ToClientBandwidth != 0 {
		p.SetBandwidth(ToClient, opts.ToClientBandwidth)
	}
	p.wg.Add(1)
	go p.acceptLoop()
	t.Cleanup(p.Close)
	return p
}

// Via returns a copy of s whose address is the proxy's, for Mount and
// DialRaw: the implicit-TLS port when the proxy forwards to s.TLSAddr(),
// else the STARTTLS/plaintext port. The copy is for connecting only; stop
// and inspect the server through s.
func (s *Server) Via(p *Proxy) *Server {
	c := *s
	if p.Target == s.TLSAddr() {
		c.TLSPort = p.Port
	} else {
		c.Port = p.Port
	}
	return &c
}

// SetDelay sets the delay of the given directions, for chunks that arrive
// from now on.
func (p *Proxy) SetDelay(dir Direction, d time.Duration) {
	for i, one := range []Direction{ToServer, ToClient} {
		if dir&one != 0 {
			p.delay[i].Store(int64(d))
		}
	}
}

// SetBandwidth sets how many bytes a second the given directions carry
// (0: no limit), for bytes read from now on.
func (p *Proxy) SetBandwidth(dir Direction, bytesPerSecond int64) {
	for i, one := range []Direction{ToServer, ToClient} {
		if dir&one != 0 {
			p.rate[i].Store(bytesPerSecond)
		}
	}
}

// Accepted is how many connections the proxy accepted, refused ones too.
func (p *Proxy) Accepted() int { return int(p.accepts.Load()) }

// Open is how many connections go through the proxy now.
func (p *Proxy) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Bytes is how many bytes the proxy forwarded in the given directions.
func (p *Proxy) Bytes(dir Direction) int64 {
	var n int64
	for i, one := range []Direction{ToServer, ToClient} {
		if dir&one != 0 {
			n += p.bytes[i].Load()
		}
	}
	return n
}

// DropAll cuts every connection open now.
func (p *Proxy) DropAll() {
	p.mu.Lock()
	conns := slices.Collect(maps.Keys(p.conns))
	p.mu.Unlock()
	for _, c := range conns {
		c.cut()
	}
}

// Refuse makes the proxy close every connection it accepts, until the
// returned function is called.
func (p *Proxy) Refuse() (stop func()) {
	p.mu.Lock()
	p.refusing++
	p.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			p.refusing--
			p.mu.Unlock()
		})
	}
}

// Close stops listening and cuts every connection.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	for _, f := range p.faults {
		f.released = true
	}
	p.broadcastLocked()
	p.mu.Unlock()
	p.ln.Close()
	p.DropAll()
	p.wg.Wait()
}

// Fault is what a Proxy does to connections, armed with Proxy.Arm: cut
// them (close both sides) or stall them (hold the bytes, keep the sockets
// open) when its trigger comes. Without a trigger, it acts at once on
// every connection it covers.
type Fault struct {
	// Stall holds the bytes going Dir (BothWays if unset) until the fault
	// is released, instead of cutting the connection.
	Stall bool
	Dir   Direction

	// AfterBytes triggers once that many bytes went Dir on a connection
	// since the fault was armed (or since the connection began, if later),
	// on each connection it covers: a cut forwards exactly that many.
	AfterBytes int64

	// Command triggers on the connection where the client sends its Nth
	// command (1 if unset, counted over every connection covered) whose
	// name, after the tag, is Command (case-insensitive: "UID EXPUNGE",
	// "APPEND", "FETCH"). It acts before the command's first byte is
	// forwarded, or with AfterCommand once all of it, literals included,
	// was. Needs a plaintext connection.
	Command      string
	Nth          int
	AfterCommand bool

	// NextOnly limits the fault to the next connection accepted, OpenOnly
	// to the connections open when it is armed; else it covers every
	// connection open now or later.
	NextOnly bool
	OpenOnly bool
}

// Armed is a fault armed on a Proxy.
type Armed struct {
	Fault
	p        *Proxy
	fired    chan struct{}
	once     sync.Once
	armedAt  map[*proxyConn][2]int64 // bytes forwarded by the connection when armed
	covered  *proxyConn              // NextOnly: the connection it took, once accepted
	seen     int                     // commands that matched
	released bool
	stalled  map[*proxyConn]bool // connections held by this stall
	// triggered holds the connection that sent the Nth command until the
	// fault acts on it (before or after the command).
	triggered map[*proxyConn]bool
}

// Arm arms a fault now; it stays armed until Release.
func (p *Proxy) Arm(f Fault) *Armed {
	if f.Dir == 0 {
		f.Dir = BothWays
	}
	if f.Nth == 0 {
		f.Nth = 1
	}
	a := &Armed{Fault: f, p: p, fired: make(chan struct{}), armedAt: map[*proxyConn][2]int64{}, stalled: map[*proxyConn]bool{}, triggered: map[*proxyConn]bool{}}
	var cut []*proxyConn
	p.mu.Lock()
	if !f.NextOnly {
		for c := range p.conns {
			a.armedAt[c] = [2]int64{c.sent[0].Load(), c.sent[1].Load()}
			if a.AfterBytes == 0 && a.Command == "" {
				if a.Stall {
					a.stalled[c] = true
				} else {
					cut = append(cut, c)
				}
				a.fire()
			}
		}
	}
	p.faults = append(p.faults, a)
	p.broadcastLocked()
	p.mu.Unlock()
	for _, c := range cut {
		c.cut()
	}
	return a
}

// Stall holds the bytes going dir on every connection, open now or later,
// until the returned fault is released.
func (p *Proxy) Stall(dir Direction) *Armed {
	return p.Arm(Fault{Stall: true, Dir: dir})
}

// Fired is closed when the fault first acted.
func (a *Armed) Fired() <-chan struct{} { return a.fired }

// Release disarms the fault: a stall lets the bytes it held go on.
func (a *Armed) Release() {
	p := a.p
	p.mu.Lock()
	defer p.mu.Unlock()
	a.released = true
	p.faults = slices.DeleteFunc(p.faults, func(f *Armed) bool { return f == a })
	p.broadcastLocked()
}

func (a *Armed) fire() { a.once.Do(func() { close(a.fired) }) }

// covers reports whether the fault applies to c; p.mu held.
func (a *Armed) covers(c *proxyConn) bool {
	if a.released {
		return false
	}
	if a.NextOnly {
		return a.covered == c
	}
	if a.OpenOnly {
		_, open := a.armedAt[c]
		return open
	}
	return true
}

func (p *Proxy) broadcastLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepts.Add(1)
		p.mu.Lock()
		refuse := p.refusing > 0 || p.closed
		p.mu.Unlock()
		if refuse {
			client.Close()
			continue
		}
		server, err := net.Dial("tcp", p.Target)
		if err != nil {
			client.Close()
			continue
		}
		// A slow direction has small buffers where its bytes wait to be
		// read, so that they wait with the sender, as on a slow link.
		for i, from := range []net.Conn{client, server} {
			if rate := p.rate[i].Load(); rate > 0 {
				from.(*net.TCPConn).SetReadBuffer(int(max(4<<10, rate/8)))
			}
		}
		c := &proxyConn{p: p, conns: [2]net.Conn{server, client}, done: make(chan struct{})}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			client.Close()
			server.Close()
			continue
		}
		p.conns[c] = true
		cut := false
		for _, a := range p.faults {
			if a.OpenOnly {
				continue
			}
			if a.NextOnly {
				if a.covered != nil {
					continue
				}
				a.covered = c
			}
			if a.AfterBytes == 0 && a.Command == "" {
				if a.Stall {
					a.stalled[c] = true
				} else {
					cut = true
				}
				a.fire()
			}
		}
		p.mu.Unlock()
		if cut {
			c.cut()
		}
		p.wg.Add(2)
		go c.pump(0, client, server)
		go c.pump(1, server, client)
	}
}

// proxyConn is one client connection and its connection to the server.
type proxyConn struct {
	p     *Proxy
	conns [2]net.Conn // by direction index: where bytes go (server, client)
	sent  [2]atomic.Int64
	once  sync.Once
	done  chan struct{} // closed when cut
	ended atomic.Int32  // directions that reached their end
	scan  commandScanner
}

func (c *proxyConn) cut() {
	c.once.Do(func() {
		close(c.done)
		c.conns[0].Close()
		c.conns[1].Close()
		p := c.p
		p.mu.Lock()
		delete(p.conns, c)
		for _, a := range p.faults {
			delete(a.armedAt, c)
			delete(a.stalled, c)
			delete(a.triggered, c)
		}
		p.mu.Unlock()
	})
}

// chunk is bytes read from one side, stamped with their arrival.
type chunk struct {
	data []byte
	at   time.Time
	eof  bool
}

// pump forwards direction i (0: to the server, 1: to the client): a
// reader queues what arrives with its time, and the writer sends each
// chunk once its delay has passed, so delays do not add up.
func (c *proxyConn) pump(i int, from, to net.Conn) {
	defer c.p.wg.Done()
	var (
		mu     sync.Mutex
		queue  []chunk
		notify = make(chan struct{}, 1)
	)
	c.p.wg.Add(1)
	go func() {
		defer c.p.wg.Done()
		for {
			rate := c.p.rate[i].Load()
			size := 32 << 10
			if rate > 0 {
				size = int(min(32<<10, max(512, rate/16)))
			}
			buf := make([]byte, size)
			n, err := from.Read(buf)
			mu.Lock()
			if n > 0 {
				queue = append(queue, chunk{data: buf[:n], at: time.Now()})
			}
			if err != nil {
				queue = append(queue, chunk{at: time.Now(), eof: true})
			}
			mu.Unlock()
			select {
			case notify <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
			// The link is busy with these bytes for n/rate seconds; the
			// next ones wait for it (where they are, in the sender's
			// buffers).
			if rate > 0 && !c.sleepUntil(time.Now().Add(time.Duration(n)*time.Second/time.Duration(rate))) {
				return
			}
		}
	}()
	for {
		mu.Lock()
		var ch chunk
		ok := len(queue) > 0
		if ok {
			ch = queue[0]
			queue = queue[1:]
		}
		mu.Unlock()
		if !ok {
			select {
			case <-notify:
				continue
			case <-c.done:
				return
			}
		}
		if !c.sleepUntil(ch.at.Add(time.Duration(c.p.delay[i].Load()))) {
			return
		}
		if ch.eof {
			if !c.holdWhileStalled(i) {
				return
			}
			// Pass the end on, and cut once both ways ended.
			if tc, ok := to.(*net.TCPConn); ok {
				tc.CloseWrite()
			}
			if c.ended.Add(1) == 2 {
				c.cut()
			}
			return
		}
		if !c.forward(i, ch.data) {
			return
		}
	}
}

func (c *proxyConn) sleepUntil(t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-c.done:
		return false
	}
}

// forward writes data in direction i, in pieces between the points where
// a fault may act. It returns false once the connection is cut.
func (c *proxyConn) forward(i int, data []byte) bool {
	for len(data) > 0 {
		n := len(data)
		var cmd *scannedCommand
		if i == 0 {
			n, cmd = c.scan.next(data)
		}
		if cmd != nil && cmd.start && !c.commandFaults(cmd.name, false) {
			return false
		}
		piece := data[:n]
		for len(piece) > 0 {
			if !c.holdWhileStalled(i) {
				return false
			}
			m, cut := c.byteFaults(i, len(piece))
			if m > 0 {
				// Counted first, so that whoever received them sees them counted.
				c.sent[i].Add(int64(m))
				c.p.bytes[i].Add(int64(m))
				if _, err := c.conns[i].Write(piece[:m]); err != nil {
					c.cut()
					return false
				}
				piece = piece[m:]
			}
			if cut {
				c.cut()
				return false
			}
		}
		if cmd != nil && cmd.end && !c.commandFaults(cmd.name, true) {
			return false
		}
		data = data[n:]
	}
	return true
}

// byteFaults returns how many of the next n bytes in direction i may go
// before an AfterBytes fault acts, and whether it cuts right after them.
// A stall that comes due is set for holdWhileStalled.
func (c *proxyConn) byteFaults(i, n int) (int, bool) {
	p := c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	dir := Direction(1 << i)
	sent := c.sent[i].Load()
	allowed := n
	var cutBy []*Armed
	for _, a := range p.faults {
		if a.AfterBytes == 0 || a.Dir&dir == 0 || !a.covers(c) || a.stalled[c] {
			continue
		}
		base := a.armedAt[c] // zero for connections accepted later
		left := a.AfterBytes - (sent - base[i])
		switch {
		case left < 0:
			// Acted already on this connection.
		case left == 0:
			a.fire()
			if a.Stall {
				a.stalled[c] = true
				return 0, false
			}
			return 0, true
		case left < int64(allowed):
			allowed, cutBy = int(left), nil
			fallthrough
		case left == int64(allowed):
			if !a.Stall {
				cutBy = append(cutBy, a)
			}
		}
	}
	for _, a := range cutBy {
		a.fire()
	}
	return allowed, len(cutBy) > 0
}

// commandFaults acts on the Command faults the client's command name
// triggers, before it (after false) or once it was forwarded. It returns
// false once the connection is cut.
func (c *proxyConn) commandFaults(name string, after bool) bool {
	p := c.p
	p.mu.Lock()
	var cut bool
	for _, a := range p.faults {
		if a.Command == "" || !a.covers(c) || !strings.EqualFold(a.Command, name) {
			continue
		}
		if !after {
			a.seen++
			if a.seen == a.Nth {
				a.triggered[c] = true
			}
		}
		if !a.triggered[c] || a.AfterCommand != after {
			continue
		}
		delete(a.triggered, c)
		a.fire()
		if a.Stall {
			a.stalled[c] = true
		} else {
			cut = true
		}
	}
	p.mu.Unlock()
	if cut {
		c.cut()
		return false
	}
	return true
}

// holdWhileStalled waits while a stall holds direction i. It returns false
// once the connection is cut.
func (c *proxyConn) holdWhileStalled(i int) bool {
	p := c.p
	dir := Direction(1 << i)
	for {
		p.mu.Lock()
		held := false
		for _, a := range p.faults {
			if a.stalled[c] && a.Dir&dir != 0 && !a.released {
				held = true
			}
		}
		changed := p.changed
		p.mu.Unlock()
		if !held {
			return true
		}
		select {
		case <-changed:
		case <-c.done:
			return false
		}
	}
}

// commandScanner follows the commands in a client's plaintext stream:
// lines, the literals they announce ("{n}" or "{n+}" at a line's end), and
// where each command begins and ends.
type commandScanner struct {
	line      []byte // the current line so far, up to maxScanLine bytes
	inCommand bool   // a command's first line was read and it goes on
	literal   int64  // literal bytes still to come
	name      string // the current command
}

const maxScanLine = 1024

// scannedCommand marks where a piece ends: the first line of a command
// (start, sent whole so the name is known before its bytes go) or the end
// of a command.
type scannedCommand struct {
	name       string
	start, end bool
}

// next returns how many bytes of data form the next piece to forward and
// what they end with. A command's first line ends a piece (start), and so
// does the CRLF that ends a command (end); both may end the same piece.
// The bytes of a first line that comes in pieces are forwarded as they
// come: such a command is known, and faults act, only at its last piece.
func (s *commandScanner) next(data []byte) (int, *scannedCommand) {
	if s.literal > 0 {
		n := int(min(int64(len(data)), s.literal))
		s.literal -= int64(n)
		return n, nil
	}
	nl := bytes.IndexByte(data, '\n')
	if nl < 0 {
		s.addLine(data)
		return len(data), nil
	}
	s.addLine(data[:nl+1])
	line := s.line
	s.line = s.line[:0]
	var res scannedCommand
	if !s.inCommand {
		s.name = commandName(line)
		s.inCommand = true
		res.start = true
	}
	res.name = s.name
	if n, ok := announcedLiteral(line); ok {
		s.literal = n
	} else {
		s.inCommand = false
		res.end = true
	}
	return nl + 1, &res
}

func (s *commandScanner) addLine(b []byte) {
	if room := maxScanLine - len(s.line); room > 0 {
		s.line = append(s.line, b[:min(room, len(b))]...)
	}
}

// commandName is the name in a command's first line: the word after the
// tag, with the next word for UID commands ("UID FETCH").
func commandName(line []byte) string {
	f := strings.Fields(strings.TrimRight(string(line), "\r\n"))
	if len(f) < 2 {
		return ""
	}
	name := strings.ToUpper(f[1])
	if name == "UID" && len(f) > 2 {
		name += " " + strings.ToUpper(f[2])
	}
	return name
}

// announcedLiteral finds a literal announced at the end of a line.
func announcedLiteral(line []byte) (int64, bool) {
	l := strings.TrimRight(string(line), "\r\n")
	if !strings.HasSuffix(l, "}") {
		return 0, false
	}
	open := strings.LastIndexByte(l, '{')
	if open < 0 {
		return 0, false
	}
	num := strings.TrimSuffix(strings.TrimSuffix(l[open+1:len(l)-1], "+"), "-")
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}
