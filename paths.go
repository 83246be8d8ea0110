package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
)

// Where imapfs keeps its files. The home directory comes from the user
// database, not from $HOME: for an fstab line with "user", mount(8) runs
// imapfs as the user who mounts but with root's environment (HOME=/root),
// as OpenSSH does for ~/.ssh. An explicit $XDG_STATE_HOME,
// $XDG_CACHE_HOME or $NETRC still wins.

// homeDir is the home directory of the real uid, from the user database;
// $HOME only when the uid has no entry there.
func homeDir() (string, error) {
	uid := os.Getuid()
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil && u.HomeDir != "" {
		return u.HomeDir, nil
	}
	if home := os.Getenv("HOME"); home != "" {
		return home, nil
	}
	return "", fmt.Errorf("uid %d has no home directory in the user database and HOME is unset", uid)
}

// helperCommand is the shell command of --password-command or
// --oauth-token-command, run with $HOME set to the home directory above:
// a helper such as oama finds its configuration and tokens under it,
// which root's HOME of an fstab "user" mount would hide.
func helperCommand(ctx context.Context, command string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
	if home, err := homeDir(); err == nil {
		cmd.Env = append(os.Environ(), "HOME="+home) // the last one wins
	}
	return cmd
}

// xdgDir is $variable when it holds an absolute path (the XDG base
// directory rule), otherwise fallback under the home directory.
func xdgDir(variable, fallback string) (string, error) {
	if dir := os.Getenv(variable); filepath.IsAbs(dir) {
		return dir, nil
	}
	home, err := homeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, fallback), nil
}

// logPath is where the background process writes its log:
// $XDG_STATE_HOME/imapfs/imapfs.log, by default ~/.local/state/imapfs/.
func logPath() (string, error) {
	dir, err := xdgDir("XDG_STATE_HOME", filepath.Join(".local", "state"))
	return filepath.Join(dir, "imapfs", "imapfs.log"), err
}

// spoolPath is where new messages wait for their upload:
// $XDG_CACHE_HOME/imapfs/spool, by default ~/.cache/imapfs/spool. A
// message whose upload failed stays there, and the log says where.
func spoolPath() (string, error) {
	dir, err := xdgDir("XDG_CACHE_HOME", ".cache")
	return filepath.Join(dir, "imapfs", "spool"), err
}

// netrcPath is $NETRC, by default ~/.netrc.
func netrcPath() (string, error) {
	if path := os.Getenv("NETRC"); path != "" {
		return path, nil
	}
	home, err := homeDir()
	return filepath.Join(home, ".netrc"), err
}
