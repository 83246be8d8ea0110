package test

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// Servers shared by the tests of one package: started on first use, stopped
// by Main when the package's tests are done. Tests keep apart by each using
// its own account (Server.NewUser).
var shared struct {
	mu      sync.Mutex
	main    bool // Main is running the tests
	servers map[string]*Server
	errs    map[string]error
	stops   []func()
}

// Main runs a package's tests and then stops the servers they shared and
// removes the binaries built for them. It fails the run if a mount made by
// the harness is still there. Use it as the package's TestMain:
//
//	func TestMain(m *testing.M) { test.Main(m) }
func Main(m *testing.M) {
	shared.mu.Lock()
	shared.main = true
	shared.mu.Unlock()
	code := m.Run()
	shared.mu.Lock()
	for i := len(shared.stops) - 1; i >= 0; i-- {
		shared.stops[i]()
	}
	shared.mu.Unlock()
	if left := leftMounts(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "test harness: mounts left behind: %v\n", left)
		code = 1
	}
	removeBuilds()
	os.Exit(code)
}

// SharedDovecot returns the package's Dovecot, starting it on first use.
func SharedDovecot(t T) *Server {
	t.Helper()
	return sharedServer(t, "dovecot", func(t T) (*Server, func(), error) {
		return startDovecot(t, DovecotOptions{})
	})
}

// SharedCyrus returns the package's Cyrus, starting it on first use.
func SharedCyrus(t T) *Server {
	t.Helper()
	return sharedServer(t, "cyrus", func(t T) (*Server, func(), error) {
		return startCyrus(t, CyrusOptions{})
	})
}

func sharedServer(t T, kind string, start func(T) (*Server, func(), error)) *Server {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.main {
		t.Fatal("shared test servers need the package's TestMain to call test.Main(m)")
	}
	if s := shared.servers[kind]; s != nil {
		return s
	}
	if err := shared.errs[kind]; err != nil {
		t.Fatalf("%s did not start earlier: %v", kind, err)
	}
	s, stop, err := start(t)
	if stop != nil {
		shared.stops = append(shared.stops, stop)
	}
	if err != nil {
		if shared.errs == nil {
			shared.errs = map[string]error{}
		}
		shared.errs[kind] = err
		t.Fatalf("start %s: %v", kind, err)
	}
	if shared.servers == nil {
		shared.servers = map[string]*Server{}
	}
	shared.servers[kind] = s
	return s
}

// EachServer runs f as a subtest on the package's Dovecot and on its Cyrus.
func EachServer(t *testing.T, f func(t *testing.T, s *Server)) {
	t.Helper()
	for _, kind := range []string{"dovecot", "cyrus"} {
		t.Run(kind, func(t *testing.T) {
			var s *Server
			if kind == "dovecot" {
				s = SharedDovecot(t)
			} else {
				s = SharedCyrus(t)
			}
			f(t, s)
		})
	}
}
