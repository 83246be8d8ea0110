package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"imapfs/test"
)

// copier copies every file of its source folder into the mailbox folder
// given, from inside it (which a lazy unmount leaves usable), one cp per
// file under a fresh name each round, and prints the name of each copy
// that succeeded; it ends at its first failure. Many at once keep the
// mailbox's directory locked by a create most of the time, while every
// upload makes the kernel forget the name it was written under.
const copier = `cd "$1" || exit 0
src=$2 r=0
while :; do
	for f in "$src"/*; do
		name=r${r}_${f##*/}
		cp "$f" "$name" || exit 0
		echo "$name"
	done
	r=$((r+1))
done`

// mover moves the messages of one mailbox folder into another and back,
// each move making the kernel forget the name the message had, until the
// mount is gone.
const mover = `a=$1 b=$2
while [ -d "$a" ] && [ -d "$b" ]; do
	for f in "$a"/[0-9]*.eml; do mv "$f" "$b"/ 2>/dev/null; done
	for f in "$b"/[0-9]*.eml; do mv "$f" "$a"/ 2>/dev/null; done
done`

// However a mount busy with parallel cp's into a mailbox and messages
// moving between mailboxes ends, imapfs ends with it and nothing stays
// mounted: unmounted lazily (and its users then gone), killed, ended by
// SIGQUIT (what the harness does to an imapfs that hangs), or killed
// once lazily unmounted. The kernel makes a name's invalidation wait for
// its directory's lock, which a cp holds while it waits for imapfs to
// answer its create: killed then, imapfs could not finish dying, and the
// mount and its guard waited for ever. Every file a cp stored is on the
// server.
func TestUnmountDuringCopies(t *testing.T) {
	s := test.SharedDovecot(t)
	for _, way := range []string{"lazy", "SIGKILL", "SIGQUIT", "lazy then SIGKILL"} {
		t.Run(way, func(t *testing.T) {
			u := s.NewUser(t)
			s.CreateMailbox(t, u, "Other")
			var seed []test.Message
			for i := range 20 {
				seed = append(seed, test.Message{Body: []byte(fmt.Sprintf("Subject: seeded %d\r\n\r\nseeded %d\r\n", i, i))})
			}
			s.Seed(t, u, "INBOX", seed...)
			requireFusectl(t) // before the mount, for its guard
			m := test.Mount(t, s, u)
			pid := daemonPID(t, m.Dir)
			conn := fuseConnection(t, m.Dir) // to end the mount should it hang
			const copiers, files = 12, 40
			var workers []*exec.Cmd
			var outs []*bytes.Buffer
			for c := range copiers {
				src := t.TempDir()
				for i := range files {
					body := fmt.Sprintf("Subject: copy %d.%d\r\n\r\ncopied %d.%d\r\n", c, i, c, i)
					if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("c%d_%03d.eml", c, i)), []byte(body), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				cmd := exec.Command("sh", "-c", copier, "copier", m.Dir+"/INBOX", src)
				out := &bytes.Buffer{}
				cmd.Stdout = out
				workers, outs = append(workers, cmd), append(outs, out)
			}
			workers = append(workers, exec.Command("sh", "-c", mover, "mover", m.Dir+"/INBOX", m.Dir+"/Other"))
			for _, w := range workers {
				w.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // to end it with its cp
				if err := w.Start(); err != nil {
					t.Fatal(err)
				}
			}
			var done sync.WaitGroup
			for _, w := range workers {
				done.Add(1)
				go func() { defer done.Done(); w.Wait() }()
			}
			// End the mount while an invalidation waits for the
			// directory, if one is seen to within 30s.
			waitStuckInvalidation(pid, 30*time.Second)
			switch way {
			case "lazy":
				unmountLazily(t, m.Dir)
				for _, w := range workers {
					syscall.Kill(-w.Process.Pid, syscall.SIGKILL)
				}
			case "SIGKILL":
				syscall.Kill(pid, syscall.SIGKILL)
			case "SIGQUIT":
				syscall.Kill(pid, syscall.SIGQUIT)
			case "lazy then SIGKILL":
				unmountLazily(t, m.Dir)
				waitStuckInvalidation(pid, 30*time.Second)
				syscall.Kill(pid, syscall.SIGKILL)
			}
			ended := make(chan struct{})
			go func() {
				for syscall.Kill(pid, 0) == nil || test.IsMounted(m.Dir) {
					time.Sleep(20 * time.Millisecond)
				}
				close(ended)
			}()
			select {
			case <-ended:
			case <-time.After(30 * time.Second):
				t.Errorf("imapfs still running or mounted 30s after the %s\n%s\n%s", way, threadStacks(pid), m.Log())
				os.WriteFile(conn+"/abort", []byte("1"), 0)
				<-ended
			}
			done.Wait()
			stored := map[string]bool{}
			for _, mailbox := range []string{"INBOX", "Other"} {
				for _, body := range s.Bodies(t, u, mailbox) {
					stored[strings.SplitN(string(body), "\r\n", 2)[0]] = true
				}
			}
			for c, out := range outs {
				for _, name := range strings.Fields(out.String()) {
					var round, i int
					fmt.Sscanf(name, fmt.Sprintf("r%%d_c%d_%%03d.eml", c), &round, &i)
					if subject := fmt.Sprintf("Subject: copy %d.%d", c, i); !stored[subject] {
						t.Errorf("cp stored %s, but the server does not hold it (%s)", name, subject)
					}
				}
			}
		})
	}
}

// unmountLazily unmounts dir at once, however busy (fusermount3 -u -z).
func unmountLazily(t *testing.T, dir string) {
	t.Helper()
	if out, err := exec.Command("fusermount3", "-u", "-z", dir).CombinedOutput(); err != nil {
		t.Fatalf("fusermount3 -u -z %s: %v %s", dir, err, out)
	}
}

// waitStuckInvalidation waits, at most for d, until a thread of process
// pid waits in the kernel in an entry invalidation (a directory's lock).
func waitStuckInvalidation(pid int, d time.Duration) {
	if _, err := os.ReadFile(fmt.Sprintf("/proc/%d/stack", pid)); err != nil {
		return // only root reads where threads wait
	}
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		if strings.Contains(threadStacks(pid), "fuse_reverse_inval_entry") {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// threadStacks tells where each thread of process pid waits in the kernel.
func threadStacks(pid int) string {
	var b strings.Builder
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	for _, task := range tasks {
		stack, _ := os.ReadFile(task + "/stack")
		fmt.Fprintf(&b, "thread %s:\n%s", filepath.Base(task), stack)
	}
	return b.String()
}

// The guard tells an imapfs being ended (here its main thread ended, a
// zombie not waited for) from one that lives.
func TestKilledProcessIsDying(t *testing.T) {
	cmd := exec.Command("sleep", "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	if dying(cmd.Process.Pid) {
		t.Errorf("a sleeping process is taken for dying")
	}
	cmd.Process.Kill()
	waitFor(t, "the killed process taken for dying", func() bool { return dying(cmd.Process.Pid) })
}

// Whether imapfs's mount is still there is asked of its mountpoint, never
// of its device number alone: the kernel gives that number to the next
// FUSE mount once this one is gone, and an imapfs whose mount had just
// been unmounted took another's new mount for its own and aborted its
// connection ("fuse connection closed without init").
func TestStillMountedAsksTheMountpoint(t *testing.T) {
	s := test.SharedDovecot(t)
	m := test.Mount(t, s, s.NewUser(t))
	device, err := mountDevice(m.Dir)
	if err != nil || device == "" {
		t.Fatalf("the mount's device: %q, %v", device, err)
	}
	if !stillMounted(m.Dir, device) {
		t.Errorf("the live mount of %s is not found at %s", device, m.Dir)
	}
	if stillMounted(t.TempDir(), device) {
		t.Errorf("the mount of %s is taken for one at another mountpoint", device)
	}
	m.Unmount(t)
	if stillMounted(m.Dir, device) {
		t.Errorf("the mount of %s is taken for still there once unmounted", device)
	}
}
