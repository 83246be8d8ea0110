package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"imapfs/mountopts"
	"imapfs/test"
)

func TestMain(m *testing.M) { test.Main(m) }

// runImapfs runs the built binary and returns its output and exit status.
func runImapfs(t *testing.T, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	cmd := exec.Command(test.Imapfs(t), args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		status = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), status
}

func TestHelp(t *testing.T) {
	out, _, status := runImapfs(t, "--help")
	if status != 0 || !strings.Contains(out, "Usage: imapfs [flags] SERVER MOUNTPOINT") || !strings.Contains(out, "--read-only") {
		t.Fatalf("status %d, help:\n%s", status, out)
	}
}

func TestVersion(t *testing.T) {
	out, _, status := runImapfs(t, "--version")
	if status != 0 || !strings.HasPrefix(out, "imapfs ") {
		t.Fatalf("status %d, version %q", status, out)
	}
}

// Bad arguments print one line and a hint, and exit with status 2.
func TestBadArguments(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"imaps://host"},
		{"ftp://host", "/mnt"},
		{"--bogus", "imaps://host", "/mnt"},
		{"-o", "nonsense", "imaps://host", "/mnt"},
	} {
		out, errOut, status := runImapfs(t, args...)
		lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
		if status != 2 || out != "" || len(lines) != 2 || !strings.HasPrefix(lines[0], "imapfs: ") ||
			lines[1] != "Try 'imapfs --help' for more information." {
			t.Errorf("imapfs %q: status %d, stdout %q, stderr %q", args, status, out, errOut)
		}
	}
}

// runImapfsEnv runs the binary with extra environment, with a deadline.
func runImapfsEnv(t *testing.T, env []string, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, test.Imapfs(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		status = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), status
}

func emptyDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "imapfs-mnt-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(dir) })
	return dir
}

// Every failure prints one clear line, exits non-zero and leaves nothing
// mounted.
func TestMountFailures(t *testing.T) {
	test.RequireFUSE(t)
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	plain := test.StartDovecotWith(t, test.DovecotOptions{NoTLS: true})
	closedPort := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}()
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "x"), nil, 0o644)
	mounted := test.MountCommand(t, []string{test.Build(t, "./test/hellofs")}, nil)
	ca := "--ca-file=" + s.TLS.CAFile
	pw := []string{"IMAPFS_PASSWORD=" + u.Password}
	// A fusermount3 that fails as it does for a user without the right
	// (the real one, run as nobody, who may not open /dev/fuse here): what
	// it says must reach the terminal.
	realFusermount, err := exec.LookPath("fusermount3")
	if err != nil {
		t.Fatal(err)
	}
	failingFusermount := t.TempDir()
	os.Chmod(failingFusermount, 0o755)
	if err := os.WriteFile(filepath.Join(failingFusermount, "fusermount3"),
		[]byte("#!/bin/sh\nexec setpriv --reuid=nobody --regid=nogroup --clear-groups "+realFusermount+" \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"unknown host", pw, []string{"imaps://" + u.Name + "@no-such-host.invalid", ""}, "no-such-host.invalid"},
		{"connection refused", pw, []string{"imaps://" + u.Name + "@" + closedPort, ""}, "connection refused"},
		{"untrusted certificate", pw, []string{s.URL(u, true), ""}, "certificate"},
		{"no STARTTLS", pw, []string{"imap://" + u.Name + "@" + plain.Addr(), ""}, "STARTTLS"},
		{"imap:// to the implicit-TLS port", pw, []string{ca, "--timeout=30s", "imap://" + u.Name + "@" + s.TLSAddr(), ""}, "use imaps://" + u.Name + "@" + s.TLSAddr()},
		{"imaps:// to the STARTTLS port", pw, []string{ca, "imaps://" + u.Name + "@" + s.Addr(), ""}, "use imap://"},
		{"wrong password", []string{"IMAPFS_PASSWORD=wrong"}, []string{ca, s.URL(u, true), ""}, "refused"},
		{"missing mountpoint", pw, []string{ca, s.URL(u, true), "/nonexistent/mail"}, "does not exist"},
		{"not a directory", pw, []string{ca, s.URL(u, true), file}, "not a directory"},
		{"not empty", pw, []string{ca, s.URL(u, true), full}, "not empty"},
		{"already mounted", pw, []string{ca, s.URL(u, true), mounted.Dir}, "already mounted"},
		{"fusermount3 fails", append([]string{"PATH=" + failingFusermount + ":" + os.Getenv("PATH")}, pw...),
			[]string{ca, s.URL(u, true), ""}, "fusermount3: failed to open /dev/fuse"},
	} {
		for _, mode := range []string{"foreground", "daemon"} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				args := slices.Clone(tc.args)
				if args[len(args)-1] == "" {
					args[len(args)-1] = emptyDir(t)
				}
				if mode == "foreground" {
					args = append([]string{"-f"}, args...)
				}
				mountpoint := args[len(args)-1]
				_, errOut, status := runImapfsEnv(t, tc.env, args...)
				lines := strings.Split(strings.TrimSpace(errOut), "\n")
				last := lines[len(lines)-1]
				if status == 0 || !strings.HasPrefix(last, "imapfs: ") || !strings.Contains(last, tc.want) {
					t.Errorf("status %d, stderr:\n%s\nwant a last line naming %q", status, errOut, tc.want)
				}
				if mountpoint != mounted.Dir && test.IsMounted(mountpoint) {
					t.Errorf("%s left mounted", mountpoint)
				}
			})
		}
	}
}

// Without -f imapfs returns once the mount is live; fusermount3 -u ends
// the background process.
func TestDaemonMount(t *testing.T) {
	test.RequireFUSE(t)
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	s.Seed(t, u, "INBOX", test.Message{Body: []byte("Subject: hi\r\n\r\nhello\r\n")})
	dir := emptyDir(t)
	test.TrackMount(t, dir)
	_, errOut, status := runImapfsEnv(t, []string{"IMAPFS_PASSWORD=" + u.Password, "XDG_STATE_HOME=" + t.TempDir()},
		"--ca-file", s.TLS.CAFile, s.URL(u, true), dir)
	if status != 0 {
		t.Fatalf("status %d: %s", status, errOut)
	}
	if !test.IsMounted(dir) {
		t.Fatal("imapfs returned before the mount was live")
	}
	pid := daemonPID(t, dir)
	out, err := exec.Command("ls", dir+"/INBOX").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "1.eml") {
		t.Errorf("ls: %v %s", err, out)
	}
	if out, err := exec.Command("fusermount3", "-u", dir).CombinedOutput(); err != nil {
		t.Fatalf("fusermount3 -u: %v %s", err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("imapfs (pid %d) still running after fusermount3 -u", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SIGTERM to a foreground imapfs unmounts cleanly.
func TestSignalUnmounts(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	m := test.Mount(t, s, u)
	pid := daemonPID(t, m.Dir)
	syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Second)
	for test.IsMounted(m.Dir) || syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("still mounted or running 10s after SIGTERM\n%s", m.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// guardPID finds the guard of the imapfs process serving mountpoint.
func guardPID(t *testing.T, mountpoint string) int {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
		if len(args) >= 3 && args[0] == guardName && args[1] == mountpoint {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			return pid
		}
	}
	t.Fatalf("no guard process for %s", mountpoint)
	return 0
}

// daemonPID finds the imapfs process serving mountpoint.
func daemonPID(t *testing.T, mountpoint string) int {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
		if len(args) > 1 && filepath.Base(args[0]) == "imapfs" && args[len(args)-1] == mountpoint {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			return pid
		}
	}
	t.Fatalf("no imapfs process for %s", mountpoint)
	return 0
}

// The password comes from a file, a command or ~/.netrc as well as from
// IMAPFS_PASSWORD, and never shows in the background process's command
// line or environment.
func TestPasswordSources(t *testing.T) {
	test.RequireFUSE(t)
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	home := t.TempDir()
	passFile := filepath.Join(home, "pass")
	os.WriteFile(passFile, []byte(u.Password+"\nignored second line\n"), 0o600)
	os.WriteFile(filepath.Join(home, ".netrc"), []byte("machine other login x password y\nmachine 127.0.0.1\n  login "+u.Name+"\n  password "+u.Password+"\n"), 0o600)
	for _, tc := range []struct {
		name string
		env  []string
		args []string
	}{
		{"password-file", nil, []string{"--password-file", passFile}},
		{"password-command", nil, []string{"--password-command", "cat " + passFile}},
		{"netrc", []string{"NETRC=" + filepath.Join(home, ".netrc")}, nil},
		{"environment", []string{"IMAPFS_PASSWORD=" + u.Password}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := emptyDir(t)
			test.TrackMount(t, dir)
			env := append([]string{"XDG_STATE_HOME=" + t.TempDir()}, tc.env...)
			args := append(append([]string{"--ca-file", s.TLS.CAFile}, tc.args...), s.URL(u, true), dir)
			if _, errOut, status := runImapfsEnv(t, env, args...); status != 0 {
				t.Fatalf("status %d: %s", status, errOut)
			}
			defer exec.Command("fusermount3", "-u", dir).Run()
			pid := daemonPID(t, dir)
			for _, f := range []string{"cmdline", "environ"} {
				data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, f))
				if bytes.Contains(data, []byte(u.Password)) {
					t.Errorf("the password shows in /proc/PID/%s", f)
				}
			}
			if out, err := exec.Command("ls", dir+"/INBOX").CombinedOutput(); err != nil {
				t.Errorf("ls: %v %s", err, out)
			}
		})
	}
}

// With --allow-other another user can read the mount, when the modes let
// them (umask=022); without, not.
func TestAllowOther(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	uids := s.Seed(t, u, "INBOX", test.Message{Body: []byte("Subject: shared\r\n\r\nfor everyone\r\n")})
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprint("allow-other=", allow), func(t *testing.T) {
			var flags []string
			if allow {
				flags = []string{"--allow-other", "-o", "umask=022"}
			}
			m := test.Mount(t, s, u, flags...)
			file := fmt.Sprintf("%s/INBOX/%d.eml", m.Dir, uids[0])
			out, err := exec.Command("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "cat", file).CombinedOutput()
			if allow && (err != nil || !strings.Contains(string(out), "for everyone")) {
				t.Errorf("nobody cannot read with --allow-other: %v %s", err, out)
			}
			if !allow && err == nil {
				t.Errorf("nobody read the mount without --allow-other: %s", out)
			}
		})
	}
}

// -d logs the protocol and the FUSE requests, never the password.
func TestDebugLog(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	s.Seed(t, u, "INBOX", test.Message{Body: []byte("Subject: x\r\n\r\nx\r\n")})
	m := test.Mount(t, s, u, "-d")
	exec.Command("cat", m.Dir+"/INBOX/1.eml").Run()
	m.Unmount(t)
	log := m.Log()
	for _, want := range []string{"AUTHENTICATE PLAIN <redacted>", "UID FETCH", "fuse"} {
		if !strings.Contains(log, want) {
			t.Errorf("debug log lacks %q", want)
		}
	}
	if strings.Contains(log, u.Password) {
		t.Error("debug log shows the password")
	}
}

// mount(8), as an fstab line does: mount.fuse3 runs imapfs with the
// options after -o, mount's own among them, and umount ends it. With
// "-t fuse.imapfs" mount.fuse3 looks imapfs up in a PATH of its own
// (/usr/local/bin, /usr/bin, ...), so the test names the binary instead,
// as "-t fuse" and "PROGRAM#SOURCE" allow.
func TestMountHelper(t *testing.T) {
	test.RequireFUSE(t)
	test.RequireTool(t, "mount.fuse3")
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	s.Seed(t, u, "INBOX", test.Message{Body: []byte("Subject: hi\r\n\r\nhello\r\n")})
	passFile := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(passFile, []byte(u.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := emptyDir(t)
	test.TrackMount(t, dir)
	cmd := exec.Command("mount", "-t", "fuse", "-o",
		"noauto,_netdev,nosuid,ca_file="+s.TLS.CAFile+",password_file="+passFile+",cache_size=64M",
		test.Imapfs(t)+"#"+s.URL(u, true), dir)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mount -t fuse: %v %s", err, out)
	}
	if out, err := exec.Command("cat", dir+"/INBOX/1.eml").CombinedOutput(); err != nil || !strings.Contains(string(out), "hello") {
		t.Errorf("cat: %v %s", err, out)
	}
	if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v %s", err, out)
	}
	if test.IsMounted(dir) {
		t.Error("still mounted after umount")
	}
}

// imapfs's files live in the home directory the user database gives the
// real uid, whatever $HOME says (mount(8) runs an fstab "user" mount with
// the user's uid and HOME=/root); $XDG_* and $NETRC still win.
func TestPathsFromUserDatabase(t *testing.T) {
	u, err := user.LookupId(strconv.Itoa(os.Getuid()))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", t.TempDir())
	for _, v := range []string{"XDG_STATE_HOME", "XDG_CACHE_HOME", "NETRC"} {
		t.Setenv(v, "")
	}
	for _, tc := range []struct {
		name string
		path func() (string, error)
		want string
	}{
		{"log", logPath, filepath.Join(u.HomeDir, ".local/state/imapfs/imapfs.log")},
		{"spool", spoolPath, filepath.Join(u.HomeDir, ".cache/imapfs/spool")},
		{"netrc", netrcPath, filepath.Join(u.HomeDir, ".netrc")},
	} {
		if got, err := tc.path(); err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	t.Setenv("XDG_STATE_HOME", "/x/state")
	t.Setenv("XDG_CACHE_HOME", "/x/cache")
	t.Setenv("NETRC", "/x/netrc")
	for _, tc := range []struct {
		name string
		path func() (string, error)
		want string
	}{
		{"log", logPath, "/x/state/imapfs/imapfs.log"},
		{"spool", spoolPath, "/x/cache/imapfs/spool"},
		{"netrc", netrcPath, "/x/netrc"},
	} {
		if got, err := tc.path(); err != nil || got != tc.want {
			t.Errorf("%s with $XDG_*/$NETRC: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

// The same through the command, run as another user with root's HOME, as
// mount(8) runs it: it must reach for that user's home (nobody's is
// /nonexistent, so the log cannot be made there), never /root.
func TestOtherUserWithRootsHome(t *testing.T) {
	test.RequireTool(t, "setpriv")
	dir := emptyDir(t)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "XDG_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	cmd := exec.Command("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
		test.Imapfs(t), "imaps://me@127.0.0.1:1", dir)
	cmd.Env = append(env, "HOME=/root", "IMAPFS_PASSWORD=x")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "/nonexistent") || strings.Contains(string(out), "/root") {
		t.Errorf("imapfs as nobody with HOME=/root: %v\n%s\nwant a failure to make the log under /nonexistent", err, out)
	}
}

// sshfs's options, as fstab lines copy them, mount.
func TestSSHFSOptions(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	s.Seed(t, u, "INBOX", test.Message{Body: []byte("Subject: hi\r\n\r\nhello\r\n")})
	m := test.Mount(t, s, u, "-o", "default_permissions,reconnect,attr_timeout=5,entry_timeout=5")
	if out, err := exec.Command("cat", m.Dir+"/INBOX/1.eml").CombinedOutput(); err != nil || !strings.Contains(string(out), "hello") {
		t.Errorf("cat: %v %s", err, out)
	}
	if opts := mountField(t, m.Dir, 3); !slices.Contains(strings.Split(opts, ","), "default_permissions") {
		t.Errorf("mount options %q lack default_permissions", opts)
	}
}

// mountField is field i (0: source, 2: type, 3: options) of the line in
// /proc/mounts of the topmost mount on dir, unescaped.
func mountField(t *testing.T, dir string, i int) string {
	t.Helper()
	data, err := os.ReadFile("/proc/mounts")
	if err != nil {
		t.Fatal(err)
	}
	field := ""
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 3 && unescapeOctal(fields[1]) == dir {
			field = unescapeOctal(fields[i])
		}
	}
	if field == "" {
		t.Fatalf("%s is not in /proc/mounts", dir)
	}
	return field
}

// The mount's source names the account, in /proc/mounts and for findmnt
// and df, so that several mounts can be told apart.
func TestMountSourceNamesAccount(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	m := test.Mount(t, s, u)
	want := s.URL(u, true)
	if got := mountField(t, m.Dir, 0); got != want {
		t.Errorf("/proc/mounts source %q, want %q", got, want)
	}
	if got := mountField(t, m.Dir, 2); got != "fuse.imapfs" {
		t.Errorf("/proc/mounts type %q, want fuse.imapfs", got)
	}
	test.RequireTool(t, "findmnt")
	out, err := exec.Command("findmnt", "-n", "-o", "SOURCE", m.Dir).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != want {
		t.Errorf("findmnt: %v %q, want %q", err, out, want)
	}
	out, err = exec.Command("df", "--output=source", m.Dir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), want) {
		t.Errorf("df: %v %q, want %q", err, out, want)
	}
}

// Run with -f as a systemd Type=notify service, imapfs says READY=1 on
// $NOTIFY_SOCKET once the mount is live.
func TestSystemdNotify(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	socket := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	home := t.TempDir()
	test.MountCommand(t, []string{test.Imapfs(t), "-f", "--ca-file", s.TLS.CAFile, s.URL(u, true)},
		[]string{"IMAPFS_PASSWORD=" + u.Password, "NOTIFY_SOCKET=" + socket,
			"XDG_STATE_HOME=" + home, "XDG_CACHE_HOME=" + home})
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 256)
	n, err := conn.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Errorf("from $NOTIFY_SOCKET: %q, %v; want READY=1", buf[:n], err)
	}
}

// docBlock returns the fenced block of docs/usage.md whose opening line
// is fence (such as "```ini") and which holds want.
func docBlock(t *testing.T, fence, want string) string {
	t.Helper()
	doc, err := os.ReadFile("docs/usage.md")
	if err != nil {
		t.Fatal(err)
	}
	var block []string
	opening, inBlock := "", false
	for _, line := range strings.Split(string(doc), "\n") {
		switch {
		case !inBlock && strings.HasPrefix(line, "```"):
			opening, inBlock, block = line, true, nil
		case inBlock && line == "```":
			inBlock = false
			if text := strings.Join(block, "\n"); opening == fence && strings.Contains(text, want) {
				return text + "\n"
			}
		case inBlock:
			block = append(block, line)
		}
	}
	t.Fatalf("docs/usage.md has no %s block with %q", fence, want)
	return ""
}

// The systemd unit and the automount fstab line of docs/usage.md: systemd
// takes them without a complaint, and imapfs takes the options they give
// it.
func TestSystemdExamples(t *testing.T) {
	test.RequireTool(t, "systemd-analyze")
	dir := t.TempDir()
	verify := func(units ...string) {
		t.Helper()
		cmd := exec.Command("systemd-analyze", append([]string{"verify", "--man=no"}, units...)...)
		if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", strings.Join(units, " "), err, out)
		}
	}

	unit := docBlock(t, "```ini", "[Service]")
	settings := map[string]string{}
	for _, line := range strings.Split(unit, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			settings[k] = v
		}
	}
	if settings["Type"] != "notify" || !strings.Contains(settings["After"], "network-online.target") ||
		!strings.Contains(settings["Wants"], "network-online.target") {
		t.Errorf("the unit's Type=%s, After=%s, Wants=%s", settings["Type"], settings["After"], settings["Wants"])
	}
	argv := strings.Fields(settings["ExecStart"])
	if cfg, err := mountopts.Parse(argv[1:]); err != nil || !cfg.Foreground {
		t.Errorf("ExecStart=%s: %+v, %v; want imapfs -f", settings["ExecStart"], cfg, err)
	}
	// systemd checks that the program exists: the one built here.
	unitFile := filepath.Join(dir, "imapfs-me.service")
	os.WriteFile(unitFile, []byte(strings.Replace(unit, argv[0], test.Imapfs(t), 1)), 0o644)
	verify(unitFile)

	line := docBlock(t, "```", "x-systemd.automount")
	fields := strings.Fields(line)
	if len(fields) != 6 || fields[2] != "fuse.imapfs" {
		t.Fatalf("fstab line %q", line)
	}
	if _, err := mountopts.Parse([]string{"-o", fields[3], fields[0], fields[1]}); err != nil {
		t.Errorf("imapfs refuses the fstab line's options: %v", err)
	}
	generator := "/lib/systemd/system-generators/systemd-fstab-generator"
	if _, err := os.Stat(generator); err != nil {
		t.Fatalf("%s: %v", generator, err)
	}
	fstab := filepath.Join(dir, "fstab")
	os.WriteFile(fstab, []byte(line), 0o644)
	units := filepath.Join(dir, "units")
	os.Mkdir(units, 0o755)
	cmd := exec.Command(generator, units, units, units)
	cmd.Env = append(os.Environ(), "SYSTEMD_FSTAB="+fstab)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("systemd-fstab-generator: %v\n%s", err, out)
	}
	automount := filepath.Join(units, "home-me-mail.automount")
	mount := filepath.Join(units, "home-me-mail.mount")
	for _, f := range []string{automount, mount, filepath.Join(units, "remote-fs.target.requires", "home-me-mail.automount")} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("systemd-fstab-generator made no %s", f)
		}
	}
	verify(mount, automount)
}

// x-systemd.automount: systemd mounts autofs on the mountpoint and runs
// the mount when the path is first used, so imapfs finds autofs there. It
// must mount on top, without opening the path (which would wait for this
// very mount). The test plays systemd's part: it holds the autofs pipe and
// answers nothing.
func TestAutomountPoint(t *testing.T) {
	test.RequireFUSE(t)
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	s.Seed(t, u, "INBOX", test.Message{Body: []byte("Subject: hi\r\n\r\nhello\r\n")})
	dir := emptyDir(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	mount := exec.Command("mount", "-t", "autofs", "-o",
		fmt.Sprintf("fd=3,pgrp=%d,minproto=5,maxproto=5,direct", syscall.Getpgrp()), "systemd-1", dir)
	mount.ExtraFiles = []*os.File{w}
	out, err := mount.CombinedOutput()
	w.Close()
	if err != nil {
		t.Fatalf("mount -t autofs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	// Without -f: imapfs returns once its own mount is live (the
	// harness's Mount would take autofs for it).
	_, errOut, status := runImapfsEnv(t, []string{"IMAPFS_PASSWORD=" + u.Password, "XDG_STATE_HOME=" + t.TempDir()},
		"--ca-file", s.TLS.CAFile, s.URL(u, true), dir)
	if status != 0 {
		t.Fatalf("status %d: %s", status, errOut)
	}
	pid := daemonPID(t, dir)
	defer func() {
		if out, err := exec.Command("fusermount3", "-u", dir).CombinedOutput(); err != nil {
			t.Errorf("fusermount3 -u: %v %s", err, out)
		}
		for deadline := time.Now().Add(10 * time.Second); syscall.Kill(pid, 0) == nil; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Errorf("imapfs (pid %d) still running after fusermount3 -u", pid)
				syscall.Kill(pid, syscall.SIGKILL)
				break
			}
		}
	}()
	if got := mountField(t, dir, 2); got != "fuse.imapfs" {
		t.Fatalf("the top mount on %s is %s", dir, got)
	}
	if out, err := exec.Command("cat", dir+"/INBOX/1.eml").CombinedOutput(); err != nil || !strings.Contains(string(out), "hello") {
		t.Errorf("cat: %v %s", err, out)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/home/me/mail": "/home/me/mail", "my mail": "'my mail'", "it's": `'it'\''s'`, "Büro": "'Büro'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// A mount whose imapfs was killed (-9) together with its guard is stale:
// mounting there again says so, with the command that clears it, and that
// command works.
func TestStaleMountpoint(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	m := test.Mount(t, s, u)
	pid := daemonPID(t, m.Dir)
	syscall.Kill(guardPID(t, m.Dir), syscall.SIGKILL)
	syscall.Kill(pid, syscall.SIGKILL)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(m.Dir); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the mount still answers 10s after SIGKILL")
		}
	}
	clear := "fusermount3 -u " + m.Dir
	for _, mode := range []string{"foreground", "daemon"} {
		args := []string{"--ca-file", s.TLS.CAFile, s.URL(u, true), m.Dir}
		if mode == "foreground" {
			args = append([]string{"-f"}, args...)
		}
		_, errOut, status := runImapfsEnv(t, []string{"IMAPFS_PASSWORD=" + u.Password, "XDG_STATE_HOME=" + t.TempDir()}, args...)
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		if last := lines[len(lines)-1]; status == 0 || !strings.HasPrefix(last, "imapfs: ") || !strings.HasSuffix(last, clear) {
			t.Errorf("%s: status %d, stderr:\n%s\nwant a last line ending in %q", mode, status, errOut, clear)
		}
	}
	if out, err := exec.Command("sh", "-c", clear).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v %s", clear, err, out)
	}
	if test.IsMounted(m.Dir) {
		t.Errorf("%s still mounted after %s", m.Dir, clear)
	}
}

// imap:// upgrades with STARTTLS; with --plaintext a server without it
// is used in the clear.
func TestStartTLSAndPlaintext(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	plain := test.StartDovecotWith(t, test.DovecotOptions{NoTLS: true})
	pu := plain.NewUser(t)
	for _, tc := range []struct {
		name string
		argv []string
		pass string
	}{
		{"starttls", []string{"--ca-file", s.TLS.CAFile, s.URL(u, false)}, u.Password},
		{"plaintext", []string{"--plaintext", "imap://" + pu.Name + "@" + plain.Addr()}, pu.Password},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			m := test.MountCommand(t, append([]string{test.Imapfs(t), "-f"}, tc.argv...),
				[]string{"IMAPFS_PASSWORD=" + tc.pass, "XDG_STATE_HOME=" + home, "XDG_CACHE_HOME=" + home})
			if out, err := exec.Command("ls", m.Dir+"/INBOX").CombinedOutput(); err != nil {
				t.Errorf("ls: %v %s", err, out)
			}
		})
	}
}

// A .netrc password in double quotes may hold spaces, quotes and
// backslashes.
func TestNetrcQuoted(t *testing.T) {
	netrc := filepath.Join(t.TempDir(), "netrc")
	os.WriteFile(netrc, []byte("machine other login x password y\n"+
		"machine mail.example.com\n  login me\n  password \"correct horse \\\"battery\\\" \\\\ staple\"\n"+
		"machine next.example.com login me password plain\n"), 0o600)
	t.Setenv("NETRC", netrc)
	for host, want := range map[string]string{
		"mail.example.com": `correct horse "battery" \ staple`,
		"next.example.com": "plain",
	} {
		if got, ok := netrcPassword(host, "me"); !ok || got != want {
			t.Errorf("%s: %q, %v; want %q", host, got, ok, want)
		}
	}
}

// The README says which Go go.mod requires.
func TestReadmeGoVersion(t *testing.T) {
	mod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mod), "\n") {
		if v, ok := strings.CutPrefix(line, "go "); ok {
			if !strings.Contains(string(readme), "Go "+v+" or later") {
				t.Errorf("README.md does not say Go %s or later, which go.mod requires", v)
			}
			return
		}
	}
	t.Fatal("go.mod has no go line")
}

// waitFor polls cond until it holds, failing the test after 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not so after 30s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fuseConnection is the directory of the mount at dir under
// /sys/fs/fuse/connections (fusectl), mounting fusectl when it is not.
func fuseConnection(t *testing.T, dir string) string {
	t.Helper()
	info, err := os.Stat(dir) // retries when a signal interrupts it, unlike syscall.Stat
	if err != nil {
		t.Fatal(err)
	}
	st := info.Sys().(*syscall.Stat_t)
	requireFusectl(t)
	conn := fmt.Sprintf("%s/%d", fusectl, deviceMinor(st.Dev))
	if _, err := os.Stat(conn + "/abort"); err != nil {
		test.Unavailable(t, "no FUSE connection directory for %s: %v", dir, err)
	}
	return conn
}

// requireFusectl mounts fusectl, where the kernel lists the FUSE
// connections, when it is not.
func requireFusectl(t *testing.T) {
	t.Helper()
	if !test.IsMounted(fusectl) {
		if out, err := exec.Command("mount", "-t", "fusectl", "none", fusectl).CombinedOutput(); err != nil {
			test.Unavailable(t, "fusectl is not mounted and cannot be: %v %s", err, out)
		}
	}
}

// deviceMinor is the minor number of a Linux device number.
func deviceMinor(dev uint64) uint64 { return (dev & 0xff) | ((dev >> 12) & 0xfff00) }

// A mount whose FUSE connection is aborted (echo 1 > .../abort, what an
// administrator does to a hung mount) makes imapfs stop serving; it must
// not leave the mountpoint dead ("Transport endpoint is not connected")
// but unmount it, and say why in its log.
func TestAbortedConnectionUnmounts(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	s.Seed(t, u, "INBOX", test.Message{Body: []byte("Subject: x\r\n\r\nx\r\n")})
	m := test.Mount(t, s, u)
	if out, err := exec.Command("ls", m.Dir+"/INBOX").CombinedOutput(); err != nil {
		t.Fatalf("ls: %v %s", err, out)
	}
	pid := daemonPID(t, m.Dir)
	conn := fuseConnection(t, m.Dir)
	if err := os.WriteFile(conn+"/abort", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "imapfs exited", func() bool { return syscall.Kill(pid, 0) != nil })
	if test.IsMounted(m.Dir) {
		t.Errorf("%s is still mounted after imapfs exited\n%s", m.Dir, m.Log())
	}
	if names, err := os.ReadDir(m.Dir); err != nil || len(names) > 0 {
		t.Errorf("the mountpoint reads %v, %v; want empty, as before the mount", names, err)
	}
	if log := m.Log(); !strings.Contains(log, "nobody serving it; unmounting") {
		t.Errorf("the log does not say why the mount went away:\n%s", log)
	}
}

// ls lists dir, failing the test when it cannot.
func ls(t *testing.T, dir string) string {
	t.Helper()
	out, err := exec.Command("ls", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("ls %s: %v %s", dir, err, out)
	}
	return string(out)
}

// fileHas tells whether the file at path holds want.
func fileHas(path, want string) bool {
	data, err := os.ReadFile(path)
	return err == nil && strings.Contains(string(data), want)
}

// SIGHUP keeps the mount, makes the next ls ask the server however long
// listings are trusted (--dir-cache-time), and reopens the --log-file,
// whose every line names the mountpoint.
func TestSIGHUP(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	s.Seed(t, u, "INBOX", test.Message{Body: []byte("Subject: 1\r\n\r\nx\r\n")})
	logFile := filepath.Join(t.TempDir(), "logs", "imapfs.log")
	m := test.Mount(t, s, u, "--dir-cache-time", "1h", "--log-file", logFile)
	pid := daemonPID(t, m.Dir)
	if root, inbox := ls(t, m.Dir), ls(t, m.Dir+"/INBOX"); strings.Contains(root, "Fresh") || !strings.Contains(inbox, "1.eml") {
		t.Fatalf("before: root %q, INBOX %q", root, inbox)
	}
	// Behind the mount's back.
	s.CreateMailbox(t, u, "Fresh")
	s.Seed(t, u, "INBOX", test.Message{Body: []byte("Subject: 2\r\n\r\nx\r\n")})
	if root := ls(t, m.Dir); strings.Contains(root, "Fresh") {
		t.Fatalf("the folder list was not kept for --dir-cache-time: %q", root)
	}

	syscall.Kill(pid, syscall.SIGHUP)
	waitFor(t, "SIGHUP logged", func() bool { return fileHas(logFile, "cached listings dropped") })
	if root, inbox := ls(t, m.Dir), ls(t, m.Dir+"/INBOX"); !strings.Contains(root, "Fresh") || !strings.Contains(inbox, "2.eml") {
		t.Errorf("after SIGHUP: root %q, INBOX %q", root, inbox)
	}

	// logrotate: the file is moved away, SIGHUP, a new one is written.
	if err := os.Rename(logFile, logFile+".1"); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(pid, syscall.SIGHUP)
	waitFor(t, "a new log file", func() bool { return fileHas(logFile, "log reopened") })
	ls(t, m.Dir+"/Fresh")
	m.Unmount(t)
	old, _ := os.ReadFile(logFile + ".1")
	fresh, _ := os.ReadFile(logFile)
	if !strings.Contains(string(fresh), "msg=unmounted") || strings.Contains(string(old), "msg=unmounted") {
		t.Errorf("the lines after the second SIGHUP are not in the new file\nold:\n%s\nnew:\n%s", old, fresh)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(old)+string(fresh)), "\n") {
		if !strings.Contains(line, " mountpoint="+m.Dir) {
			t.Errorf("a log line does not name the mountpoint: %s", line)
		}
	}
	if strings.TrimSpace(m.Log()) != "" {
		t.Errorf("with --log-file, stderr holds:\n%s", m.Log())
	}
}

// A background imapfs keeps its mount on SIGHUP and reopens its log file
// (the default one under $XDG_STATE_HOME).
func TestDaemonSIGHUP(t *testing.T) {
	test.RequireFUSE(t)
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	s.Seed(t, u, "INBOX", test.Message{Body: []byte("Subject: hi\r\n\r\nhello\r\n")})
	dir := emptyDir(t)
	test.TrackMount(t, dir)
	state := t.TempDir()
	logFile := filepath.Join(state, "imapfs", "imapfs.log")
	_, errOut, status := runImapfsEnv(t, []string{"IMAPFS_PASSWORD=" + u.Password, "XDG_STATE_HOME=" + state},
		"--ca-file", s.TLS.CAFile, s.URL(u, true), dir)
	if status != 0 {
		t.Fatalf("status %d: %s", status, errOut)
	}
	pid := daemonPID(t, dir)
	defer func() {
		exec.Command("fusermount3", "-u", dir).Run()
		waitFor(t, "imapfs exited", func() bool { return syscall.Kill(pid, 0) != nil })
	}()
	ls(t, dir+"/INBOX")
	if err := os.Rename(logFile, logFile+".1"); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(pid, syscall.SIGHUP)
	waitFor(t, "a new log file", func() bool { return fileHas(logFile, "log reopened") })
	if out := ls(t, dir+"/INBOX"); !strings.Contains(out, "1.eml") || !test.IsMounted(dir) {
		t.Errorf("after SIGHUP: ls %q, mounted %v", out, test.IsMounted(dir))
	}
	if data, _ := os.ReadFile(logFile); !strings.Contains(string(data), "mountpoint="+dir) {
		t.Errorf("the new log does not name the mountpoint:\n%s", data)
	}
}

// statsOf reads the root's user.imapfs.stats into numbers by key.
func statsOf(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	out, err := exec.Command("getfattr", "--absolute-names", "--only-values", "-n", "user.imapfs.stats", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("getfattr: %v %s", err, out)
	}
	stats := map[string]int64{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, ok := strings.Cut(line, "=")
		n, err := strconv.ParseInt(v, 10, 64)
		if !ok || err != nil {
			t.Fatalf("not a key=number line: %q", line)
		}
		stats[k] = n
	}
	return stats
}

// The statistics are there on demand: user.imapfs.stats on the root, and
// SIGUSR1 writes them to the log.
func TestStatistics(t *testing.T) {
	test.RequireTool(t, "getfattr")
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	for i := range 3 {
		s.Seed(t, u, "INBOX", test.Message{Body: []byte(fmt.Sprintf("Subject: %d\r\n\r\n%s\r\n", i, strings.Repeat("x", 1000)))})
	}
	m := test.Mount(t, s, u)
	read := func(name string) {
		t.Helper()
		// iflag=nocache drops the page cache of the file, so the read
		// reaches imapfs each time.
		if out, err := exec.Command("dd", "if="+m.Dir+"/INBOX/"+name, "of=/dev/null", "iflag=nocache", "status=none").CombinedOutput(); err != nil {
			t.Fatalf("dd %s: %v %s", name, err, out)
		}
	}
	read("1.eml")
	before := statsOf(t, m.Dir)
	for _, k := range []string{"connections_open", "connections_made", "commands", "bytes_in", "bytes_out", "listings", "bodies_fetched", "body_bytes_fetched", "fuse_requests", "fuse_requests.Read", "fuse_requests.Lookup"} {
		if before[k] <= 0 {
			t.Errorf("%s=%d after a read, want > 0", k, before[k])
		}
	}
	read("1.eml")
	read("2.eml")
	read("3.eml")
	after := statsOf(t, m.Dir)
	for _, k := range []string{"commands", "bytes_in", "fuse_requests", "fuse_requests.Read", "cache_hits_memory"} {
		if after[k] <= before[k] {
			t.Errorf("%s went from %d to %d over three more reads", k, before[k], after[k])
		}
	}
	if after["bodies_fetched"] < 3 {
		t.Errorf("bodies_fetched=%d after reading 3 messages", after["bodies_fetched"])
	}

	syscall.Kill(daemonPID(t, m.Dir), syscall.SIGUSR1)
	waitFor(t, "statistics in the log", func() bool { return strings.Contains(m.Log(), "msg=statistics") })
	for _, want := range []string{"commands=", "bytes_in=", "bodies_fetched=", "cache_hits_memory=", "fuse_requests.Read="} {
		if !strings.Contains(m.Log(), want) {
			t.Errorf("the statistics in the log lack %s:\n%s", want, m.Log())
		}
	}
	if !test.IsMounted(m.Dir) {
		t.Error("SIGUSR1 ended the mount")
	}
}

// An imapfs that dies with its mount live (kill -9 here; the OOM killer, a
// fatal runtime error) leaves no dead mount: its guard unmounts it and
// says so in the log. The guard holds nothing of the mount's.
func TestKilledImapfsUnmounts(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	s.Seed(t, u, "INBOX", test.Message{Body: []byte("Subject: x\r\n\r\nx\r\n")})
	for _, mode := range []string{"foreground", "daemon"} {
		t.Run(mode, func(t *testing.T) {
			var dir, logFile string
			if mode == "foreground" {
				m := test.Mount(t, s, u)
				dir, logFile = m.Dir, m.LogFile
			} else {
				dir = emptyDir(t)
				test.TrackMount(t, dir)
				logFile = filepath.Join(t.TempDir(), "imapfs.log")
				_, errOut, status := runImapfsEnv(t, []string{"IMAPFS_PASSWORD=" + u.Password},
					"--ca-file", s.TLS.CAFile, "--log-file", logFile, s.URL(u, true), dir)
				if status != 0 {
					t.Fatalf("status %d: %s", status, errOut)
				}
			}
			ls(t, dir+"/INBOX")
			guard := guardPID(t, dir)
			fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", guard))
			for _, fd := range fds {
				if target, _ := os.Readlink(fd); target == "/dev/fuse" {
					t.Errorf("the guard holds the mount's /dev/fuse open (%s)", fd)
				}
			}
			syscall.Kill(daemonPID(t, dir), syscall.SIGKILL)
			waitFor(t, "the mount gone", func() bool { return !test.IsMounted(dir) })
			if names, err := os.ReadDir(dir); err != nil || len(names) > 0 {
				t.Errorf("the mountpoint reads %v, %v; want empty, as before the mount", names, err)
			}
			waitFor(t, "the guard ended", func() bool { return syscall.Kill(guard, 0) != nil })
			if !fileHas(logFile, "imapfs ended without unmounting") {
				data, _ := os.ReadFile(logFile)
				t.Errorf("the log does not say why the mount went away:\n%s", data)
			}
		})
	}
}

// imapfs -f whose stderr is a pipe nobody reads any more (the program it
// was piped into ended) keeps serving: a write to the closed pipe fails
// instead of killing imapfs with SIGPIPE and leaving the mount dead.
func TestClosedStderrKeepsMount(t *testing.T) {
	test.RequireFUSE(t)
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	s.Seed(t, u, "INBOX", test.Message{Body: []byte("Subject: x\r\n\r\nx\r\n")})
	dir := emptyDir(t)
	test.TrackMount(t, dir)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(test.Imapfs(t), "-f", "-d", "--ca-file", s.TLS.CAFile, s.URL(u, true), dir)
	cmd.Env = append(os.Environ(), "IMAPFS_PASSWORD="+u.Password, "XDG_STATE_HOME="+t.TempDir(), "XDG_CACHE_HOME="+t.TempDir())
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		exec.Command("fusermount3", "-u", dir).Run()
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Error("imapfs still running 30s after fusermount3 -u")
		}
	}()
	waitFor(t, "mounted", func() bool { return test.IsMounted(dir) })
	r.Close() // the reader goes away; -d logs every request from now on
	for i := range 3 {
		if out, err := exec.Command("cat", dir+"/INBOX/1.eml").CombinedOutput(); err != nil {
			t.Fatalf("cat %d after stderr closed: %v %s", i, err, out)
		}
	}
	select {
	case err := <-exited:
		t.Fatalf("imapfs ended: %v", err)
	default:
	}
}

// A message left in the spool by a mount that ended before storing it is
// reported on the terminal that mounts next, with how to store it, and
// storing it that way works.
func TestSpoolReportedAtMount(t *testing.T) {
	test.RequireFUSE(t)
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	cacheHome := t.TempDir()
	spool := filepath.Join(cacheHome, "imapfs", "spool")
	if err := os.MkdirAll(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	left := filepath.Join(spool, "upload-123.eml")
	body := []byte("Subject: left behind\r\n\r\nwritten before the crash\r\n")
	if err := os.WriteFile(left, body, 0o600); err != nil {
		t.Fatal(err)
	}
	dir := emptyDir(t)
	test.TrackMount(t, dir)
	_, errOut, status := runImapfsEnv(t, []string{"IMAPFS_PASSWORD=" + u.Password, "XDG_STATE_HOME=" + t.TempDir(), "XDG_CACHE_HOME=" + cacheHome},
		"--ca-file", s.TLS.CAFile, s.URL(u, true), dir)
	if status != 0 {
		t.Fatalf("status %d: %s", status, errOut)
	}
	defer exec.Command("fusermount3", "-u", dir).Run()
	want := "imapfs: 1 new message(s) not stored are in " + spool
	if !strings.Contains(errOut, want) || !strings.Contains(errOut, "cp FILE "+dir+"/MAILBOX/") {
		t.Errorf("the terminal was told %q, want a line with %q and how to store it", errOut, want)
	}
	// What the line says to do, twice: one message, whole.
	for range 2 {
		if out, err := exec.Command("cp", left, dir+"/INBOX/").CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
	}
	msgs := s.Messages(t, u, "INBOX")
	if len(msgs) != 1 || !bytes.Equal(s.Body(t, u, "INBOX", msgs[0].UID), body) {
		t.Errorf("after storing the spool file as told, INBOX holds %d messages", len(msgs))
	}
}
