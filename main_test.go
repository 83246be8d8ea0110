package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

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
