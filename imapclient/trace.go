package imapclient

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
)

// tracer logs the protocol (imaplib's debug), one line per protocol line,
// with long lines and literal contents cut, and credentials redacted.
type tracer struct {
	log    *slog.Logger
	level  int
	redact atomic.Bool // set while credentials are on the wire
}

const traceLineMax = 200

func newTracer(log *slog.Logger, level int) *tracer {
	if log == nil {
		level = 0
	}
	return &tracer{log: log, level: level}
}

// note logs a remark of the client's own at level 2.
func (t *tracer) note(msg string) {
	if t.level >= 2 {
		t.log.Debug("imap: " + msg)
	}
}

func (t *tracer) writer(w io.Writer) io.Writer {
	if t.level == 0 {
		return w
	}
	return io.MultiWriter(w, &lineLogger{t: t, dir: "C"})
}

func (t *tracer) reader(r io.Reader) io.Reader {
	if t.level == 0 {
		return r
	}
	return io.TeeReader(r, &lineLogger{t: t, dir: "S"})
}

// lineLogger splits one direction of the stream into lines.
type lineLogger struct {
	t    *tracer
	dir  string // "C" for what the client sent, "S" for the server
	line []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if len(l.line) < traceLineMax+1 {
				l.line = append(l.line, p[:min(len(p), traceLineMax+1-len(l.line))]...)
			}
			break
		}
		if len(l.line) < traceLineMax+1 {
			l.line = append(l.line, p[:min(i, traceLineMax+1-len(l.line))]...)
		}
		l.emit()
		p = p[i+1:]
	}
	return n, nil
}

func (l *lineLogger) emit() {
	line := strings.TrimRight(string(l.line), "\r")
	l.line = l.line[:0]
	if l.t.redact.Load() {
		line = redactLine(line)
	}
	if l.t.level < 2 && !isCommandOrStatus(line) {
		return
	}
	if len(line) > traceLineMax {
		line = line[:traceLineMax] + "…"
	}
	l.t.log.Debug(l.dir + ": " + line)
}

// redactLine keeps a line's tag and command (and SASL mechanism) and
// hides the rest: passwords (LOGIN), SASL responses and challenges,
// tokens.
func redactLine(line string) string {
	fields := strings.SplitN(line, " ", 3)
	switch {
	case strings.HasPrefix(line, "+"):
		return "+ <redacted>"
	case len(fields) == 3 && strings.EqualFold(fields[1], "LOGIN"):
		return fields[0] + " " + fields[1] + " <redacted>"
	case len(fields) == 3 && strings.EqualFold(fields[1], "AUTHENTICATE"):
		// The mechanism stays, to tell which one signed in; the initial
		// response that may follow it is the credential.
		mech, _, _ := strings.Cut(fields[2], " ")
		return fields[0] + " " + fields[1] + " " + mech + " <redacted>"
	case len(fields) >= 2 && (fields[0] == "*" || strings.EqualFold(fields[1], "OK") || strings.EqualFold(fields[1], "NO") || strings.EqualFold(fields[1], "BAD")):
		return line
	default:
		return "<redacted>"
	}
}

// isCommandOrStatus: level 1 shows commands and tagged/untagged status,
// not data.
func isCommandOrStatus(line string) bool {
	fields := strings.Fields(line)
	if len(fields) < 2 {
		return false
	}
	if fields[0] != "*" && fields[0] != "+" {
		return true // a command, or a tagged response
	}
	switch strings.ToUpper(fields[1]) {
	case "OK", "NO", "BAD", "BYE", "PREAUTH":
		return true
	}
	return false
}
