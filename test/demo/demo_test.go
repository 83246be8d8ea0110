package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"imapfs/test"
)

func TestMain(m *testing.M) { test.Main(m) }

// output collects a process's output and tells when a line appears.
type output struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	seen chan struct{}
	once sync.Once
	want string
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	if strings.Contains(o.buf.String(), o.want) {
		o.once.Do(func() { close(o.seen) })
	}
	return len(p), nil
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// startDemo runs the demo command on mountpoint and returns it with its
// combined output.
func startDemo(t *testing.T, mountpoint string) (*exec.Cmd, *output, chan error) {
	t.Helper()
	out := &output{seen: make(chan struct{}), want: "Press Ctrl-C"}
	cmd := exec.Command(test.Build(t, "./test/demo"), "-mountpoint", mountpoint)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
			}
		}
	})
	return cmd, out, done
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

var (
	serverLine = regexp.MustCompile(`Dovecot on 127\.0\.0\.1:(\d+) .*folder (\S+)`)
)

// make demo's path, with a temporary mountpoint instead of ./mail: the
// guide is printed once the mount is live, real tools see the seeded mail,
// and Ctrl-C (SIGINT) unmounts, stops the server and removes what the demo
// made.
func TestDemo(t *testing.T) {
	test.RequireFUSE(t)
	test.RequireTool(t, "dovecot")
	dir := filepath.Join(t.TempDir(), "mail")
	test.TrackMount(t, dir)
	cmd, out, done := startDemo(t, dir)

	select {
	case <-out.seen:
	case err := <-done:
		t.Fatalf("demo exited before the guide: %v\n%s", err, out)
	case <-time.After(5 * time.Minute):
		t.Fatalf("no guide after 5 minutes\n%s", out)
	}
	guide := out.String()
	if !test.IsMounted(dir) {
		t.Fatalf("guide printed but %s is not mounted\n%s", dir, guide)
	}
	for _, want := range []string{"ls -l " + dir + "/INBOX", "grep -rl invoice " + dir + "/", "getfattr -d", "rsync -a"} {
		if !strings.Contains(guide, want) {
			t.Errorf("guide lacks %q\n%s", want, guide)
		}
	}
	for _, stale := range []string{"later", "once", "read-only"} {
		if strings.Contains(guide, stale) {
			t.Errorf("the guide still promises what is done (%q)\n%s", stale, guide)
		}
	}
	// The guide's hints work.
	if xattrs := run(t, "getfattr", "-d", dir+"/INBOX/1.eml"); !strings.Contains(xattrs, "user.imap.flags") {
		t.Errorf("getfattr -d INBOX/1.eml:\n%s", xattrs)
	}
	if found := run(t, "ls", dir+"/INBOX/.search/SUBJECT invoice"); !strings.Contains(found, ".eml") {
		t.Errorf("ls 'INBOX/.search/SUBJECT invoice' found nothing")
	}
	run(t, "sh", "-c", "mkdir "+dir+"/Saved && cp "+dir+"/INBOX/1.eml "+dir+"/Saved/")
	if saved := run(t, "ls", dir+"/Saved"); !strings.Contains(saved, "1.eml") {
		t.Errorf("ls Saved after cp: %q", saved)
	}
	m := serverLine.FindStringSubmatch(guide)
	if m == nil {
		t.Fatalf("guide names no server\n%s", guide)
	}
	instance, serverDir := "imapfs-test-"+m[1], m[2]

	ls := run(t, "ls", "-l", filepath.Join(dir, "INBOX"))
	if !strings.Contains(ls, " 1.eml") || strings.Count(ls, ".eml") < 10 {
		t.Errorf("ls -l INBOX:\n%s", ls)
	}
	root := run(t, "ls", dir)
	for _, want := range []string{"INBOX", "Work", "Büro & Ämter", "Archive"} {
		if !strings.Contains(root, want) {
			t.Errorf("ls %s lacks %q:\n%s", dir, want, root)
		}
	}
	grep := run(t, "grep", "-rl", "invoice", dir+"/")
	for _, want := range []string{"/INBOX/", "/Work/Projects 2025/", "/Büro & Ämter/", "/Archive/2024/"} {
		if !strings.Contains(grep, want) {
			t.Errorf("grep -rl invoice found nothing in %s:\n%s", want, grep)
		}
	}

	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("demo after SIGINT: %v\n%s", err, out)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("demo still running 60s after SIGINT\n%s", out)
	}
	if test.IsMounted(dir) {
		t.Errorf("%s still mounted after the demo ended", dir)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the mountpoint the demo made is still there: %v", err)
	}
	if _, err := os.Stat(serverDir); !os.IsNotExist(err) {
		t.Errorf("the server's folder %s is still there: %v", serverDir, err)
	}
	if left := processesMentioning(instance, serverDir, dir); len(left) > 0 {
		t.Errorf("processes left behind: %q", left)
	}
}

// The demo refuses a mountpoint that holds files, before starting anything.
func TestDemoRefusesNonEmptyMountpoint(t *testing.T) {
	test.RequireRoot(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "keep.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, out, done := startDemo(t, dir)
	select {
	case err := <-done:
		if err == nil || !strings.Contains(out.String(), "not empty") {
			t.Errorf("demo on a non-empty folder: %v\n%s", err, out)
		}
		if strings.Contains(out.String(), "Dovecot") {
			t.Errorf("demo started a server before refusing:\n%s", out)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("demo did not refuse\n%s", out)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "keep.txt")); err != nil || string(data) != "mine" {
		t.Errorf("keep.txt: %q, %v", data, err)
	}
}

// processesMentioning lists the command lines that contain any of words.
func processesMentioning(words ...string) []string {
	var found []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		line := strings.ReplaceAll(string(data), "\x00", " ")
		for _, w := range words {
			if strings.Contains(line, w) {
				found = append(found, line)
				break
			}
		}
	}
	return found
}

// "make demo" installs only what the demo needs (test/setup demo), not
// Cyrus, isync or vim, which only the tests and benchmarks use.
func TestSetupForDemo(t *testing.T) {
	root := test.ModuleRoot(t)
	out, err := exec.Command(filepath.Join(root, "test/setup"), "--list", "demo").CombinedOutput()
	if err != nil {
		t.Fatalf("test/setup --list demo: %v\n%s", err, out)
	}
	packages := strings.Fields(string(out))
	for _, want := range []string{"fuse3", "dovecot-imapd"} {
		if !slices.Contains(packages, want) {
			t.Errorf("test/setup demo would not install %s: %q", want, packages)
		}
	}
	for _, unwanted := range []string{"cyrus-common", "cyrus-imapd", "isync", "vim"} {
		if slices.Contains(packages, unwanted) || strings.Contains(string(out), unwanted) {
			t.Errorf("test/setup demo would install %s: %q", unwanted, packages)
		}
	}
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(makefile), "\ttest/setup demo\n") {
		t.Error("make demo does not run test/setup demo")
	}
}

// Ctrl-C in the terminal (SIGINT to make and everything it started) ends
// "make demo" cleanly: no "make: *** [demo] Error 1" after a clean stop.
func TestMakeDemoInterrupted(t *testing.T) {
	test.RequireFUSE(t)
	test.RequireTool(t, "make")
	dir := filepath.Join(t.TempDir(), "mail")
	test.TrackMount(t, dir)
	out := &output{seen: make(chan struct{}), want: "Press Ctrl-C"}
	cmd := exec.Command("make", "--no-print-directory", "demo", "DEMO_FLAGS=-mountpoint "+dir)
	cmd.Dir = test.ModuleRoot(t)
	cmd.Stdout, cmd.Stderr = out, out
	// A process group of its own, as a terminal's foreground job.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-out.seen:
	case err := <-done:
		t.Fatalf("make demo exited before the guide: %v\n%s", err, out)
	case <-time.After(5 * time.Minute):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Fatalf("no guide after 5 minutes\n%s", out)
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Fatalf("make demo still running 60s after SIGINT\n%s", out)
	}
	if strings.Contains(out.String(), "Error") || !strings.Contains(out.String(), "unmounting and stopping the server") {
		t.Errorf("make demo after Ctrl-C:\n%s", out)
	}
	if test.IsMounted(dir) {
		t.Errorf("%s still mounted after make demo ended", dir)
	}
}
