package test

import (
	"fmt"
	"os/exec"
	"time"
)

// Stop stops a private Dovecot (from StartDovecot) without removing
// anything: its folder, ports and accounts stay, so that Restart brings the
// same server back. Tests use it to see what clients do while the server is
// unreachable. Never stop a shared server: other tests use it.
func (s *Server) Stop(t T) {
	t.Helper()
	if _, ok := s.backend.(*dovecot); !ok {
		t.Fatalf("Stop on a %s server", s.Kind)
	}
	if s.proc != nil && !s.proc.exited() {
		s.proc.stop(2 * time.Second)
	}
}

// Restart starts a server stopped by Stop again, on the same ports and
// folder, and waits until it greets on both.
func (s *Server) Restart(t T) {
	t.Helper()
	b, ok := s.backend.(*dovecot)
	if !ok {
		t.Fatalf("Restart on a %s server", s.Kind)
	}
	if s.proc != nil && !s.proc.exited() {
		s.proc.stop(2 * time.Second)
	}
	// The configuration on disk still names the same ports.
	out := &syncBuffer{}
	cmd := exec.Command("dovecot", "-F", "-c", b.conf)
	cmd.Stdout, cmd.Stderr = out, out
	p, err := startProcess("dovecot", cmd)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.waitServer(p); err != nil {
		p.stop(time.Second)
		t.Fatal(fmt.Errorf("restart: %v\n%s%s", err, out.String(), tail(b.logFile(), 2000)))
	}
	s.proc = p
}
