package main

import (
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

// The guard: a small process that outlives imapfs only to unmount. A
// mount whose process is gone, however it went (kill -9, the OOM killer,
// a fatal runtime error), answers "Transport endpoint is not connected"
// until someone unmounts it; imapfs cannot do that itself once dead. The
// guard holds the read end of a pipe whose write end only imapfs has:
// when imapfs ends the pipe closes, and if the mount is still there the
// guard unmounts it. It knows the mount by its device, so it never
// unmounts another mount made on the same path since.

// guardEnv marks the guard process.
const guardEnv = "IMAPFS_GUARD"

// guardName is the guard's argv[0], telling it apart in ps.
const guardName = "imapfs-guard"

// startGuard starts the guard of the mount of device at mountpoint; it
// logs to logPath ("" for this process's stderr). The returned file is
// the pipe's end to keep open while the mount is served.
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
	cmd := exec.Command(exe, mountpoint, device, logPath)
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

// runGuard is the guard process: args are the mountpoint, the device
// and the log file.
func runGuard(args []string) int {
	if len(args) != 3 {
		return 2
	}
	mountpoint, device, logPath := args[0], args[1], args[2]
	// imapfs decides when the mount ends; the guard waits for it.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	io.Copy(io.Discard, os.Stdin) // until imapfs ends, one way or another
	if mounted, err := deviceMounted(device); err != nil || !mounted {
		return 0
	}
	var w io.Writer = os.Stderr
	if logPath != "" {
		if f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err == nil {
			defer f.Close()
			w = f
		}
	}
	log := slog.New(slog.NewTextHandler(w, nil)).With("mountpoint", mountpoint)
	log.Error("imapfs ended without unmounting (killed, or crashed: see above)")
	unmountDead(mountpoint, device, log)
	return 0
}
