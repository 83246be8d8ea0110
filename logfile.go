package main

import (
	"bytes"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"imapfs/mountopts"
)

// logFile is a log file reopened by its name on SIGHUP: logrotate moves
// the file away, and the next lines go to a new one of the same name.
type logFile struct {
	path string
	// stdio: the file is also the process's stdout and stderr (the
	// background process), so that what the runtime prints when it
	// crashes lands in the same log.
	stdio bool

	mu sync.Mutex
	f  *os.File
}

// openLogFile opens (creates) the log file at path.
func openLogFile(path string, stdio bool) (*logFile, error) {
	l := &logFile{path: path, stdio: stdio}
	if err := l.Reopen(); err != nil {
		return nil, err
	}
	return l, nil
}

// Reopen opens the file by its name again; the old one is closed. On
// failure the log goes on to the old file.
func (l *logFile) Reopen() error {
	if err := os.MkdirAll(filepath.Dir(l.path), 0o700); err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	if l.stdio {
		syscall.Dup2(int(f.Fd()), 1)
		syscall.Dup2(int(f.Fd()), 2)
	}
	l.mu.Lock()
	old := l.f
	l.f = f
	l.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// name is the file's name; "" for none (the log goes to stderr).
func (l *logFile) name() string {
	if l == nil {
		return ""
	}
	return l.path
}

func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(p)
}

// logTo is where the log goes: the --log-file, or else stderr (nil
// logFile). The background process always has a file (see detach).
func logTo(cfg *mountopts.Config, stderr io.Writer) (io.Writer, *logFile, error) {
	if cfg.LogFile == "" {
		return stderr, nil, nil
	}
	f, err := openLogFile(cfg.LogFile, false)
	if err != nil {
		return nil, nil, err
	}
	return f, f, nil
}

// defaultLogFile is the background process's log: --log-file, or the
// default path under the state directory.
func defaultLogFile(cfg *mountopts.Config) (string, error) {
	if cfg.LogFile != "" {
		return cfg.LogFile, nil
	}
	return logPath()
}

// newLogger logs to w, at debug level with -d. Every line names the
// mountpoint: one log may hold several mounts'. What the FUSE library
// says through the standard log package (a panic it recovered in a
// request handler) goes to the same log.
func newLogger(w io.Writer, cfg *mountopts.Config) *slog.Logger {
	level := slog.LevelInfo
	if cfg.Debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})).With("mountpoint", cfg.Mountpoint)
	stdlog.SetFlags(0)
	stdlog.SetOutput(stdlogWriter{log})
	return log
}

// stdlogWriter turns the standard log package's lines into log records.
type stdlogWriter struct{ log *slog.Logger }

func (w stdlogWriter) Write(p []byte) (int, error) {
	w.log.Warn("fuse library", "said", string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
