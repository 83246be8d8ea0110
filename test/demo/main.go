// Command demo is "make demo": it starts a private Dovecot on loopback (the
// test harness's), seeds it with a realistic generated mailbox, builds
// imapfs and mounts the account at ./mail (or -mountpoint DIR) until Ctrl-C.
// Like the integration tests it needs root: Dovecot drops to its own users
// and mounting needs /dev/fuse.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"

	"imapfs/test"
)

func main() {
	mountpoint := flag.String("mountpoint", "", "where to mount (default: mail/ in the repository root)")
	flag.Parse()
	t := newDemoT()
	t.interruptible()
	defer t.abandoned()

	if os.Geteuid() != 0 {
		t.Fatalf("the demo must run as root (try: sudo make demo): it starts a private Dovecot, which drops to its own users, and mounts with FUSE")
	}
	dir := *mountpoint
	if dir == "" {
		dir = filepath.Join(test.ModuleRoot(t), "mail")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	prepareMountpoint(t, dir)

	fmt.Println("Starting a private Dovecot on loopback...")
	s := test.StartDovecot(t)
	u := s.Alice
	corpus := test.DemoCorpus()
	test.SeedCorpus(t, s, u, corpus)
	fmt.Printf("Seeded %d messages for %s in INBOX and %d other mailboxes.\n", len(corpus), u.Name, len(test.CorpusMailboxes(corpus)))

	fmt.Println("Building imapfs...")
	test.Imapfs(t)
	t.Cleanup(test.RemoveBuilds)
	m := test.MountAt(t, dir, s, u)

	rel := dir
	if wd, err := os.Getwd(); err == nil {
		if r, err := filepath.Rel(wd, dir); err == nil && !filepath.IsAbs(r) && r != ".." && !startsWithDotDot(r) {
			rel = r
		}
	}
	// Ready before the guide is printed: a Ctrl-C right after it (a test
	// sends one as soon as it reads the guide) is then a clean stop.
	close(t.ready)
	fmt.Printf(`
imapfs is mounted at %[1]s
  server:  Dovecot on %[2]s (implicit TLS on %[3]s), folder %[4]s
  account: %[5]s (password %[6]s), %[7]d messages
  log:     %[8]s

Try:
  ls -l %[1]s/INBOX
  ls -R %[1]s
  grep -rl invoice %[1]s/
  cat '%[1]s/Work/Projects 2025/'*.eml | less
  ls -l '%[1]s/Büro & Ämter'
  rsync -a %[1]s/ /tmp/backup/
  getfattr -d %[1]s/INBOX/1.eml              (flags and more: docs/xattrs.md)
  ls '%[1]s/INBOX/.search/SUBJECT invoice'   (searched on the server)
  mkdir %[1]s/Saved && cp %[1]s/INBOX/1.eml %[1]s/Saved/

cp, mv, rm and mkdir change the mail on the server (docs/usage.md).
Press Ctrl-C to unmount and stop the server.
`, rel, s.Addr(), s.TLSAddr(), s.Dir, u.Name, u.Password, len(corpus), m.LogFile)
	t.waitForSignal()
}

func startsWithDotDot(p string) bool {
	return len(p) >= 3 && p[:3] == ".."+string(filepath.Separator)
}

// prepareMountpoint makes dir, or checks that an existing dir is an empty,
// unmounted folder. A folder it made is removed at the end.
func prepareMountpoint(t *demoT, dir string) {
	if test.IsMounted(dir) {
		t.Fatalf("%s is already mounted; unmount it first (fusermount3 -u %s)", dir, dir)
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if !test.IsMounted(dir) {
				os.Remove(dir)
			}
		})
	case err != nil:
		// A mount whose process died: "transport endpoint is not connected".
		t.Fatalf("%s: %v (a stale mount? try: fusermount3 -u %s)", dir, err, dir)
	case !fi.IsDir():
		t.Fatalf("%s exists and is not a directory", dir)
	default:
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) > 0 {
			t.Fatalf("%s is not empty: mounting there would hide its files; empty it or choose -mountpoint DIR", dir)
		}
	}
}

// demoT is the harness's test.T for a command: Fatal prints, runs the
// cleanups (last registered first) and exits; SIGINT and SIGTERM do the
// same with a zero status.
type demoT struct {
	mu       sync.Mutex
	cleanups []func()
	failed   bool
	closing  bool
	signals  chan os.Signal
	ready    chan struct{} // closed once mounted, before the guide
}

var _ test.T = (*demoT)(nil)

// errAbort unwinds a goroutine that called Fatal while another one is
// already cleaning up.
var errAbort = errors.New("demo aborted")

func newDemoT() *demoT {
	return &demoT{signals: make(chan os.Signal, 2), ready: make(chan struct{})}
}

func (t *demoT) Helper() {}

func (t *demoT) Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "demo: "+format+"\n", args...)
}

func (t *demoT) Errorf(format string, args ...any) {
	t.mu.Lock()
	t.failed = true
	t.mu.Unlock()
	t.Logf(format, args...)
}

func (t *demoT) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

func (t *demoT) Fatal(args ...any) {
	t.Errorf("%s", fmt.Sprint(args...))
	t.exit(1)
}

func (t *demoT) Fatalf(format string, args ...any) {
	t.Errorf(format, args...)
	t.exit(1)
}

// Skipf is how the harness says a prerequisite is missing: the demo cannot
// run.
func (t *demoT) Skipf(format string, args ...any) {
	t.Errorf("cannot run: "+format, args...)
	t.exit(1)
}

// Cleanup stacks f. Once the demo is shutting down, f runs at once.
func (t *demoT) Cleanup(f func()) {
	t.mu.Lock()
	if !t.closing {
		t.cleanups = append(t.cleanups, f)
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	runCleanup(f)
}

// exit runs the cleanups, last first, and exits with code (1 if anything
// failed). A second caller, or a Fatal from a cleanup, unwinds instead.
func (t *demoT) exit(code int) {
	t.mu.Lock()
	if t.closing {
		t.mu.Unlock()
		panic(errAbort)
	}
	t.closing = true
	t.mu.Unlock()
	for {
		t.mu.Lock()
		n := len(t.cleanups)
		if n == 0 {
			t.mu.Unlock()
			break
		}
		f := t.cleanups[n-1]
		t.cleanups = t.cleanups[:n-1]
		t.mu.Unlock()
		runCleanup(f)
	}
	if t.Failed() {
		code = 1
	}
	os.Exit(code)
}

func runCleanup(f func()) {
	defer func() {
		if r := recover(); r != nil && r != errAbort {
			fmt.Fprintf(os.Stderr, "demo: cleanup panicked: %v\n", r)
		}
	}()
	f()
}

// interruptible makes SIGINT and SIGTERM clean up and exit, also while the
// demo is still starting.
func (t *demoT) interruptible() {
	signal.Notify(t.signals, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		defer t.abandoned()
		sig := <-t.signals
		select {
		case <-t.ready:
			fmt.Printf("\n%v: unmounting and stopping the server...\n", sig)
		default:
			fmt.Fprintf(os.Stderr, "\n%v: stopping before the demo was ready...\n", sig)
		}
		t.exit(0)
	}()
}

// waitForSignal blocks until the signal goroutine ends the program.
func (t *demoT) waitForSignal() {
	select {}
}

// abandoned parks a goroutine that exit unwound because another goroutine
// is already cleaning up and will end the program.
func (t *demoT) abandoned() {
	if r := recover(); r != nil {
		if r != errAbort {
			panic(r)
		}
		select {}
	}
}
