package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"

	"imapfs/mountopts"
)

// Detaching: the command re-runs itself as a background process (a Go
// program cannot fork), hands it the password through a pipe (never the
// command line or the environment), and waits until the child says the
// mount is live or why it is not. So "imapfs ... ~/mail && ls ~/mail"
// works in a script, and a failure leaves nothing mounted.

// daemonEnv marks the background process; its value names nothing secret.
const daemonEnv = "IMAPFS_DAEMON"

// Descriptors the background process inherits (ExtraFiles start at 3).
const (
	readyFD    = 3 // the child writes "ok" or its error here
	passwordFD = 4 // the parent writes the password here
)

// detach starts the background process and waits for its verdict.
func detach(cfg *mountopts.Config, args []string, pass string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	logPath, err := defaultLogFile(cfg)
	if err != nil {
		return err
	}
	// The background process opens the log itself (and reopens it on
	// SIGHUP); this is for what it says before it can.
	logs, err := openLogFile(logPath, false)
	if err != nil {
		return err
	}
	defer logs.f.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return err
	}
	passR, passW, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, args...)
	// The password travels through the pipe only: not even an inherited
	// IMAPFS_PASSWORD stays in the background process's environment.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "IMAPFS_PASSWORD=") })
	cmd.Env = append(env, daemonEnv+"=1")
	cmd.Stdout, cmd.Stderr = logs.f, logs.f
	cmd.ExtraFiles = []*os.File{readyW, passR}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	readyW.Close()
	passR.Close()
	io.WriteString(passW, pass)
	passW.Close()
	said, _ := io.ReadAll(readyR)
	readyR.Close()
	verdict := told(string(said))
	if verdict == "ok" {
		cmd.Process.Release()
		return nil
	}
	waitErr := cmd.Wait()
	if msg := strings.TrimSpace(verdict); msg != "" {
		return errors.New(msg)
	}
	return fmt.Errorf("the background process ended before mounting (%v); see %s", waitErr, logPath)
}

// noticePrefix marks a line the background process asks the waiting
// parent to print before its verdict.
const noticePrefix = "notice: "

// told prints the notices among what the background process said, and
// returns its verdict ("ok", or the error).
func told(said string) (verdict string) {
	for {
		line, rest, found := strings.Cut(said, "\n")
		if !found || !strings.HasPrefix(line, noticePrefix) {
			return said
		}
		fmt.Fprintf(os.Stderr, "imapfs: %s\n", strings.TrimPrefix(line, noticePrefix))
		said = rest
	}
}

// runDaemon is the background process: it reads the password, serves the
// mount, and reports readiness to the waiting parent.
func runDaemon(cfg *mountopts.Config) int {
	// Inherited descriptors are not closed on exec: without this, every
	// command run before the verdict (a --tunnel, the guard) would hold
	// the pipe open, and the waiting parent with it.
	syscall.CloseOnExec(readyFD)
	syscall.CloseOnExec(passwordFD)
	readyW := os.NewFile(readyFD, "ready")
	passR := os.NewFile(passwordFD, "password")
	pass, err := io.ReadAll(passR)
	passR.Close()
	if err != nil {
		fmt.Fprintf(readyW, "cannot read the password: %v", err)
		return 1
	}
	devnull, err := os.Open(os.DevNull)
	if err == nil {
		syscall.Dup2(int(devnull.Fd()), 0)
	}
	logPath, err := defaultLogFile(cfg)
	var logs *logFile
	if err == nil {
		logs, err = openLogFile(logPath, true)
	}
	if err != nil {
		fmt.Fprint(readyW, err.Error())
		return 1
	}
	log := newLogger(logs, cfg)
	reported := false
	ready := func(err error) {
		if reported {
			return
		}
		reported = true
		if err != nil {
			fmt.Fprint(readyW, err.Error())
		} else {
			io.WriteString(readyW, "ok")
		}
		readyW.Close()
	}
	tell := func(msg string) {
		if !reported {
			fmt.Fprintf(readyW, "%s%s\n", noticePrefix, strings.ReplaceAll(msg, "\n", " "))
		}
	}
	if err := serve(cfg, string(pass), log, logs, tell, ready); err != nil {
		log.Error("imapfs stopped", "err", err)
		return 1
	}
	return 0
}

// notifySystemd tells systemd that the mount is live when it runs
// imapfs -f as a Type=notify service: "READY=1" to $NOTIFY_SOCKET, as
// sd_notify(3) does. Without the variable it does nothing.
func notifySystemd() error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	// A name starting with @ is in the abstract namespace; net maps it.
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write([]byte("READY=1"))
	return err
}
