// Package test is the integration-test harness of imapfs: it runs private,
// real IMAP servers (Dovecot and Cyrus) on loopback, seeds them with mail,
// reads their state back without going through imapfs's own client, and
// mounts the imapfs binary on temporary folders.
//
// Every server and mount a test starts is stopped by t.Cleanup, also when the
// test fails or panics. When a prerequisite is missing (root, /dev/fuse, a
// server's binaries) a test is skipped with a message, except under CI=true,
// where it fails: CI must never pass by skipping.
package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// T is what the harness needs from a test: *testing.T and *testing.B (any
// testing.TB) satisfy it, and so does a command that runs the harness
// outside "go test", such as test/demo.
type T interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
	Failed() bool
	Skipf(format string, args ...any)
	Cleanup(func())
	Logf(format string, args ...any)
}

var _ T = testing.TB(nil)

// InCI reports whether the tests run under CI, where a test that cannot run
// must fail instead of skipping.
func InCI() bool { return os.Getenv("CI") == "true" }

// Unavailable skips the test, or fails it under CI, because a prerequisite
// is missing.
func Unavailable(t T, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("cannot run under CI=true: "+format, args...)
	}
	t.Skipf("skipping: "+format+" (run test/setup as root to install what the tests need)", args...)
}

// RequireRoot stops the test unless it runs as root: the servers drop to
// their own unprivileged users, and mounting needs /dev/fuse.
func RequireRoot(t T) {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "the integration tests need root")
	}
}

// RequireFUSE stops the test unless a FUSE mount can be made here.
func RequireFUSE(t T) {
	t.Helper()
	RequireRoot(t)
	if _, err := os.Stat("/dev/fuse"); err != nil {
		Unavailable(t, "/dev/fuse: %v", err)
	}
	RequireTool(t, "fusermount3")
}

// RequireTool stops the test unless the named program is on PATH, and
// returns its path.
func RequireTool(t T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Unavailable(t, "%s is not installed", name)
	}
	return p
}

// ModuleRoot returns the directory holding the module's go.mod.
func ModuleRoot(t T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test harness source")
	}
	return filepath.Dir(filepath.Dir(file))
}
