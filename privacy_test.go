package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"imapfs/test"
)

// asNobody runs a command as the user nobody, whom the kernel's
// permission checks apply to (root bypasses them).
func asNobody(name string, args ...string) ([]byte, error) {
	argv := append([]string{"--reuid=nobody", "--regid=nogroup", "--clear-groups", name}, args...)
	return exec.Command("setpriv", argv...).CombinedOutput()
}

// nobodyIDs is the uid and gid setpriv's nobody and nogroup have.
func nobodyIDs(t *testing.T) (uid, gid int) {
	t.Helper()
	out, err := exec.Command("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "sh", "-c", "id -u; id -g").Output()
	if err != nil {
		t.Fatalf("setpriv: %v", err)
	}
	if _, err := fmt.Sscan(string(out), &uid, &gid); err != nil {
		t.Fatalf("id: %q: %v", out, err)
	}
	return uid, gid
}

// modeOwner is stat's "%a %u %g" of path.
func modeOwner(t *testing.T, path string) string {
	t.Helper()
	var st syscall.Stat_t
	// A signal to this process (the Go runtime's preemption) can
	// interrupt the FUSE request; os.Stat retries then, syscall.Stat not.
	var err error = syscall.EINTR
	for err == syscall.EINTR {
		err = syscall.Stat(path, &st)
	}
	if err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return fmt.Sprintf("%o %d %d", st.Mode&0o7777, st.Uid, st.Gid)
}

// Mail is private by default, also with allow_other: directories 0700,
// messages and new files 0600, and another user reads nothing. -o umask=
// opens it up as sshfs's does, and -o uid=,gid= give it to another user,
// who may then read it and set its flags (the write bit is what the
// kernel wants for setxattr under default_permissions).
func TestPrivateModes(t *testing.T) {
	test.RequireTool(t, "setpriv")
	test.RequireTool(t, "setfattr")
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	uids := s.Seed(t, u, "INBOX", test.Message{Body: []byte("Subject: private\r\n\r\nfor my eyes\r\n")})
	me := fmt.Sprintf("%d %d", os.Getuid(), os.Getgid())
	nobodyUID, nobodyGID := nobodyIDs(t)
	nobody := fmt.Sprintf("%d %d", nobodyUID, nobodyGID)
	for _, tc := range []struct {
		name       string
		flags      []string
		dir, file  string // mode and owner
		nobodyRead bool
	}{
		{"default", []string{"--allow-other"}, "700 " + me, "600 " + me, false},
		{"umask=022", []string{"--allow-other", "-o", "umask=022"}, "755 " + me, "644 " + me, true},
		{"umask=027", []string{"-o", "allow_other,umask=027"}, "750 " + me, "640 " + me, false},
		{"uid,gid", []string{"-o", fmt.Sprintf("allow_other,uid=%d,gid=%d", nobodyUID, nobodyGID)}, "700 " + nobody, "600 " + nobody, true},
		{"read-only", []string{"-o", "allow_other,ro"}, "500 " + me, "400 " + me, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := test.Mount(t, s, u, tc.flags...)
			inbox := filepath.Join(m.Dir, "INBOX")
			file := fmt.Sprintf("%s/%d.eml", inbox, uids[0])
			for _, p := range []string{m.Dir, inbox} {
				if got := modeOwner(t, p); got != tc.dir {
					t.Errorf("%s: mode and owner %s, want %s", p, got, tc.dir)
				}
			}
			if got := modeOwner(t, file); got != tc.file {
				t.Errorf("message: mode and owner %s, want %s", got, tc.file)
			}
			if !strings.Contains(tc.name, "read-only") {
				// An empty file stays a pending new message.
				fresh := filepath.Join(inbox, "new.eml")
				if err := os.WriteFile(fresh, nil, 0o666); err != nil {
					t.Fatal(err)
				}
				if got := modeOwner(t, fresh); got != tc.file {
					t.Errorf("new file: mode and owner %s, want %s", got, tc.file)
				}
				os.Remove(fresh)
			}
			out, err := asNobody("cat", file)
			if tc.nobodyRead && (err != nil || !strings.Contains(string(out), "for my eyes")) {
				t.Errorf("nobody cannot read: %v %s", err, out)
			}
			if !tc.nobodyRead && (err == nil || !strings.Contains(string(out), "Permission denied")) {
				t.Errorf("nobody read the mail: %v %s", err, out)
			}
			if tc.name == "uid,gid" {
				if out, err := asNobody("setfattr", "-n", "user.imap.flags", "-v", `\Flagged`, file); err != nil {
					t.Errorf("the owner cannot set flags: %v %s", err, out)
				}
			}
		})
	}
}

// The spool and the disk cache hold mail: a directory another user owns
// or may write to is refused with a clear error, and nothing is mounted.
func TestPrivateDirsRefused(t *testing.T) {
	test.RequireFUSE(t)
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	nobodyUID, nobodyGID := nobodyIDs(t)
	others := func(dir string) { os.Chown(dir, nobodyUID, nobodyGID) }
	writable := func(dir string) { os.Chmod(dir, 0o777) }
	for _, tc := range []struct {
		name   string
		spoil  func(string)
		cache  bool // spoil --cache-dir, not the spool
		want   string
		prefix string
	}{
		{"spool of another user", others, false, "belongs to uid", "spool: "},
		{"spool writable by others", writable, false, "may be written by other users", "spool: "},
		{"cache-dir of another user", others, true, "belongs to uid", "--cache-dir: "},
		{"cache-dir writable by others", writable, true, "may be written by other users", "--cache-dir: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			spool := filepath.Join(home, "cache", "imapfs", "spool")
			cacheDir := filepath.Join(home, "bodies")
			for _, d := range []string{spool, cacheDir} {
				if err := os.MkdirAll(d, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			if tc.cache {
				tc.spoil(cacheDir)
			} else {
				tc.spoil(spool)
			}
			mountpoint := emptyDir(t)
			env := []string{"IMAPFS_PASSWORD=" + u.Password, "XDG_CACHE_HOME=" + filepath.Join(home, "cache"),
				"XDG_STATE_HOME=" + filepath.Join(home, "state")}
			_, errOut, status := runImapfsEnv(t, env, "-f", "--ca-file", s.TLS.CAFile, "--cache-dir", cacheDir, s.URL(u, true), mountpoint)
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			last := lines[len(lines)-1]
			if status == 0 || !strings.HasPrefix(last, "imapfs: "+tc.prefix) || !strings.Contains(last, tc.want) {
				t.Errorf("status %d, stderr:\n%s\nwant a last line naming %q", status, errOut, tc.want)
			}
			if test.IsMounted(mountpoint) {
				exec.Command("fusermount3", "-u", mountpoint).Run()
				t.Errorf("%s left mounted", mountpoint)
			}
		})
	}
}
