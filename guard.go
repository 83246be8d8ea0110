package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The guard: a small process that outlives imapfs only to unmount. A
// mount whose process is gone, however it went (kill -9, the OOM killer,
// a fatal runtime error), answers "Transport endpoint is not connected"
// until someone unmounts it; imapfs cannot do that itself once dead. The
// guard holds the read end of a pipe whose write end only imapfs has:
// when imapfs ends the pipe closes, and if the mount is still there the
// guard unmounts it. It knows the mount by its device, so it never
// unmounts another mount made on the same path since.
//
// A process killed while one of its threads waits in the kernel cannot
// finish dying: the kernel makes a name's invalidation wait for its
// directory's lock, which a cp creating a file there holds while it
// waits for imapfs's answer, which a dead imapfs never gives. Its files
// stay open, the pipe among them, and the mount with them. So the guard
// also watches imapfs: one that is being ended (killed, exiting) and is
// still there a moment later has its FUSE connection aborted, as an
// administrator would (/sys/fs/fuse/connections/N/abort). The kernel
// then fails what waited for an answer, and imapfs ends. It loses
// nothing: closing imapfs's /dev/fuse, the end of any death, does the
// same.

// guardEnv marks the guard process.
const guardEnv = "IMAPFS_GUARD"

// guardName is the guard's argv[0], telling it apart in ps.
const guardName = "imapfs-guard"

// startGuard starts the guard of the mount of device at mountpoint,
// served by this process; it logs to logPath ("" for this process's
// stderr). The returned file is the pipe's end to keep open while the
// mount is served.
func startGuard(mountpoint, device, logPath string) (*os.File, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	cmd := exec.Command(exe, mountpoint, device, logPath, strconv.Itoa(os.Getpid()))
	cmd.Args[0] = guardName
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "IMAPFS_PASSWORD=") || strings.HasPrefix(kv, daemonEnv+"=")
	})
	cmd.Env = append(env, guardEnv+"=1")
	cmd.Stdin, cmd.Stderr = r, os.Stderr
	// Its own session: the terminal's Ctrl-C for imapfs -f is not for it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, err
	}
	go cmd.Wait()
	return w, nil
}

// runGuard is the guard process: args are the mountpoint, the device,
// the log file and imapfs's process ID.
func runGuard(args []string) int {
	if len(args) != 4 {
		return 2
	}
	mountpoint, device, logPath := args[0], args[1], args[2]
	pid, err := strconv.Atoi(args[3])
	if err != nil {
		return 2
	}
	// imapfs decides when the mount ends; the guard waits for it.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	var log *slog.Logger // opened when there is something to say
	logger := func() *slog.Logger {
		if log != nil {
			return log
		}
		var w io.Writer = os.Stderr
		if logPath != "" {
			if f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err == nil {
				w = f // closed when the guard ends
			}
		}
		log = slog.New(slog.NewTextHandler(w, nil)).With("mountpoint", mountpoint)
		return log
	}
	// The connection's abort file, opened while the device is surely
	// this mount's (fusectl mounted): it stays this connection's once the
	// mount is unmounted lazily, or its device number is another's.
	abortFile := openAbortFile(device)
	ended := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin) // until imapfs ends, one way or another
		close(ended)
	}()
	waitImapfs(ended, pid, func() {
		const msg = "imapfs is being ended but has not ended (a thread of it waiting in the kernel for the mount?); aborting its FUSE connection"
		if abortFile != nil {
			logger().Error(msg, "pid", pid)
			writeAbort(abortFile, logger())
			return
		}
		// Only while the mount is there is its device's connection
		// imapfs's: a device number is reused once its mount is gone.
		if stillMounted(mountpoint, device) {
			logger().Error(msg, "pid", pid)
			abortConnection(device, logger())
		}
	})
	if !stillMounted(mountpoint, device) {
		return 0
	}
	logger().Error("imapfs ended without unmounting (killed, or crashed: see above)")
	unmountDead(mountpoint, device, logger())
	return 0
}

// dyingGrace is how long imapfs may take to end once it is being ended
// (killed, exiting) before its FUSE connection is aborted; ending takes
// milliseconds unless a thread cannot.
const dyingGrace = 2 * time.Second

// waitImapfs waits until imapfs, process pid, has ended (ended closed),
// calling abort once if it is being ended and still there dyingGrace
// later.
func waitImapfs(ended <-chan struct{}, pid int, abort func()) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for !dying(pid) {
		select {
		case <-ended:
			return
		case <-tick.C:
		}
	}
	select {
	case <-ended:
		return
	case <-time.After(dyingGrace):
	}
	abort()
	<-ended
}

// dying reports whether process pid is being ended but is still there:
// its main thread has ended (a zombie) while others have not, or SIGKILL
// is pending (kill -9, or an exit ending the other threads). It holds
// the guard's pipe open, so its process ID is not another's.
func dying(pid int) bool {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(status), "\n") {
		key, value, _ := strings.Cut(line, ":")
		value = strings.TrimSpace(value)
		switch key {
		case "State":
			if strings.HasPrefix(value, "Z") || strings.HasPrefix(value, "X") {
				return true
			}
		case "SigPnd", "ShdPnd":
			if mask, err := strconv.ParseUint(value, 16, 64); err == nil && mask&(1<<(syscall.SIGKILL-1)) != 0 {
				return true
			}
		}
	}
	return false
}
