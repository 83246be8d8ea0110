package test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// builds caches the binaries built by this test process, by package.
var builds struct {
	mu   sync.Mutex
	dir  string
	bins map[string]string
	errs map[string]error
}

// Build compiles a main package of this module (".", "./test/hellofs", ...)
// once per test process and returns the binary's path. Under -race the
// binary is built with the race detector as well.
func Build(t T, pkg string) string {
	t.Helper()
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if bin := builds.bins[pkg]; bin != "" {
		return bin
	}
	if err := builds.errs[pkg]; err != nil {
		t.Fatal(err)
	}
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "imapfs-bin-")
		if err != nil {
			t.Fatal(err)
		}
		os.Chmod(dir, 0o755)
		builds.dir = dir
		builds.bins = map[string]string{}
		builds.errs = map[string]error{}
	}
	name := filepath.Base(pkg)
	if pkg == "." {
		name = "imapfs"
	}
	bin := filepath.Join(builds.dir, name)
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = ModuleRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		builds.errs[pkg] = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		t.Fatal(builds.errs[pkg])
	}
	builds.bins[pkg] = bin
	return bin
}

// Imapfs returns the imapfs binary built from this module.
func Imapfs(t T) string {
	t.Helper()
	return Build(t, ".")
}

// RemoveBuilds removes the binaries Build made. Main does it for tests;
// commands that use the harness without Main (test/demo) call it
// themselves.
func RemoveBuilds() { removeBuilds() }

func removeBuilds() {
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
	}
}

// Mounted is a live FUSE mount made by a test.
type Mounted struct {
	Home    string // XDG_CACHE_HOME and XDG_STATE_HOME of imapfs live below it (Mount only)
	Dir     string // the mountpoint
	LogFile string // the mounting process's output
	proc    *process
	ownDir  bool // Dir was made for the mount and is removed with it
}

// Pid is the mounting process's.
func (m *Mounted) Pid() int { return m.proc.cmd.Process.Pid }

// Log returns what the mounting process has printed so far.
func (m *Mounted) Log() string { return tail(m.LogFile, 16000) }

// Mount mounts user u's account on server s with imapfs in the foreground
// (-f) on a fresh folder, trusting the server's test CA and passing the
// password through IMAPFS_PASSWORD. Extra flags come before SERVER. The
// mount is unmounted when the test ends.
func Mount(t T, s *Server, u User, flags ...string) *Mounted {
	t.Helper()
	return MountAt(t, "", s, u, flags...)
}

// MountAt is Mount on the existing, empty folder dir (a fresh temporary
// folder when dir is ""). A folder given here is left in place when the
// mount is removed.
func MountAt(t T, dir string, s *Server, u User, flags ...string) *Mounted {
	t.Helper()
	argv := append([]string{Imapfs(t), "-f", "--ca-file", s.TLS.CAFile}, flags...)
	argv = append(argv, s.URL(u, true))
	return mountImapfs(t, dir, argv, u.Password)
}

// mountImapfs runs an imapfs command line with MountCommandAt, the
// password in IMAPFS_PASSWORD.
func mountImapfs(t T, dir string, argv []string, password string) *Mounted {
	t.Helper()
	// imapfs's spool and state folders go to a folder of the test's own,
	// so that no test leaves files in the machine's home.
	home, err := os.MkdirTemp("", "imapfs-home-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	m := MountCommandAt(t, dir, argv, []string{"IMAPFS_PASSWORD=" + password,
		"XDG_CACHE_HOME=" + filepath.Join(home, "cache"), "XDG_STATE_HOME=" + filepath.Join(home, "state")})
	m.Home = home
	return m
}

// MountCommand runs argv plus a fresh mountpoint as its last argument, a
// command that mounts a FUSE filesystem there and stays in the foreground
// while it is mounted. It returns once the mount is live. When the test ends
// the mount is unmounted and the process must exit; a mount that cannot be
// removed fails the test.
func MountCommand(t T, argv []string, env []string) *Mounted {
	t.Helper()
	return MountCommandAt(t, "", argv, env)
}

// MountCommandAt is MountCommand on the existing folder dir instead of a
// fresh one (which it is when dir is ""). The process's output then goes to
// a temporary log file, and dir itself is left in place at the end.
func MountCommandAt(t T, dir string, argv []string, env []string) *Mounted {
	t.Helper()
	RequireFUSE(t)
	var m *Mounted
	if dir == "" {
		fresh, err := os.MkdirTemp("", "imapfs-mnt-")
		if err != nil {
			t.Fatal(err)
		}
		os.Chmod(fresh, 0o755)
		m = &Mounted{Dir: fresh, LogFile: fresh + ".log", ownDir: true}
	} else {
		f, err := os.CreateTemp("", "imapfs-mnt-*.log")
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		m = &Mounted{Dir: dir, LogFile: f.Name()}
	}
	dir = m.Dir
	logf, err := os.Create(m.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], append(argv[1:], dir)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := startProcess(filepath.Base(argv[0]), cmd)
	logf.Close()
	if err != nil {
		t.Fatal(err)
	}
	m.proc = p
	trackMount(dir)
	t.Cleanup(func() {
		m.unmount(t)
		if !t.Failed() {
			os.Remove(m.LogFile)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !IsMounted(dir) {
		if p.exited() {
			t.Fatalf("%s exited before mounting %s: %v\n%s", argv[0], dir, p.waitErr, m.Log())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s not mounted after 30s\n%s", argv[0], dir, m.Log())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return m
}

// Unmount unmounts now (fusermount3 -u) and waits for the process to exit.
func (m *Mounted) Unmount(t T) {
	t.Helper()
	m.unmount(t)
}

func (m *Mounted) unmount(t T) {
	t.Helper()
	if m.proc == nil {
		return
	}
	p := m.proc
	m.proc = nil
	if IsMounted(m.Dir) {
		// A mount whose imapfs was killed may be unmounted by its guard
		// process meanwhile.
		if out, err := exec.Command("fusermount3", "-u", m.Dir).CombinedOutput(); err != nil && IsMounted(m.Dir) {
			t.Errorf("fusermount3 -u %s: %v: %s", m.Dir, err, out)
		}
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		// Go's goroutine dump, into the log, says where it hangs.
		p.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-p.done:
		case <-time.After(2 * time.Second):
		}
		t.Errorf("%s still running 10s after unmounting %s (goroutines dumped with SIGQUIT)\n%s\n%s", p.name, m.Dir, m.Log(), kernelStacks(p.cmd.Process.Pid))
		p.stop(time.Second)
	}
	if IsMounted(m.Dir) {
		t.Errorf("mount %s left behind", m.Dir)
		exec.Command("fusermount3", "-uz", m.Dir).Run()
	}
	if m.ownDir {
		if err := os.Remove(m.Dir); err == nil {
			untrackMount(m.Dir)
		}
	} else if !IsMounted(m.Dir) {
		untrackMount(m.Dir)
	}
}

// TrackMount makes the harness check, when the test ends, that nothing is
// left mounted on dir: for tests that mount through imapfs's own command
// line (daemon mode) instead of Mount.
func TrackMount(t T, dir string) {
	t.Helper()
	trackMount(dir)
	t.Cleanup(func() {
		if IsMounted(dir) {
			t.Errorf("mount %s left behind", dir)
			exec.Command("fusermount3", "-uz", dir).Run()
		}
		untrackMount(dir)
	})
}

var tracked struct {
	mu   sync.Mutex
	dirs []string
}

func trackMount(dir string) {
	tracked.mu.Lock()
	defer tracked.mu.Unlock()
	tracked.dirs = append(tracked.dirs, dir)
}

func untrackMount(dir string) {
	tracked.mu.Lock()
	defer tracked.mu.Unlock()
	tracked.dirs = slices.DeleteFunc(tracked.dirs, func(d string) bool { return d == dir })
}

// leftMounts lists the tracked mountpoints that are still mounted, and
// lazily unmounts them so a broken test run does not leave them behind.
func leftMounts() []string {
	tracked.mu.Lock()
	defer tracked.mu.Unlock()
	var left []string
	for _, d := range tracked.dirs {
		if IsMounted(d) {
			left = append(left, d)
			exec.Command("fusermount3", "-uz", d).Run()
		}
	}
	return left
}

// IsMounted reports whether dir is a mountpoint, from /proc/self/mountinfo.
func IsMounted(dir string) bool {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// Field 5 is the mountpoint, with spaces and such escaped as \040.
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && unescapeMountinfo(fields[4]) == dir {
			return true
		}
	}
	return false
}

func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Stats reads the mount's statistics, the root's user.imapfs.stats
// (key=number lines), by key.
func (m *Mounted) Stats(t T) map[string]int64 {
	t.Helper()
	buf := make([]byte, 64<<10)
	n, err := syscall.Getxattr(m.Dir, "user.imapfs.stats", buf)
	if err != nil {
		t.Fatalf("getxattr user.imapfs.stats %s: %v", m.Dir, err)
	}
	stats := map[string]int64{}
	for _, line := range strings.Split(strings.TrimSpace(string(buf[:n])), "\n") {
		k, v, ok := strings.Cut(line, "=")
		number, err := strconv.ParseInt(v, 10, 64)
		if !ok || err != nil {
			t.Fatalf("user.imapfs.stats of %s: not a key=number line: %q", m.Dir, line)
		}
		stats[k] = number
	}
	return stats
}

// kernelStacks describes where the threads of process pid are in the
// kernel: for a process that neither ends nor answers SIGQUIT, as one
// whose thread waits in the kernel (on a FUSE request, say) does. It
// needs root; what cannot be read is left out.
func kernelStacks(pid int) string {
	var b strings.Builder
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	for _, task := range tasks {
		stat, _ := os.ReadFile(filepath.Join(task, "stat"))
		wchan, _ := os.ReadFile(filepath.Join(task, "wchan"))
		stack, _ := os.ReadFile(filepath.Join(task, "stack"))
		state := ""
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
			state = string(stat[i+2 : i+3])
		}
		fmt.Fprintf(&b, "thread %s: state %s, wchan %s\n%s", filepath.Base(task), state, wchan, stack)
	}
	if b.Len() == 0 {
		return fmt.Sprintf("(no threads of process %d to describe)", pid)
	}
	return "where its threads are in the kernel:\n" + b.String()
}
