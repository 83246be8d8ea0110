// Command imapfs mounts an IMAP mail account as a directory tree: mailboxes
// are directories and messages are read-only <UID>.eml files.
//
//	imapfs [flags] SERVER MOUNTPOINT
//
// See imapfs --help and docs/.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"imapfs/mountopts"
)

// version is set at release time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	// mount(8) with fstab's "fuse.imapfs" type runs imapfs through
	// mount.fuse3 with no PATH in the environment, and the FUSE library
	// finds fusermount3 through it.
	if os.Getenv("PATH") == "" {
		os.Setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is imapfs without the process around it; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if os.Getenv(guardEnv) == "1" {
		return runGuard(args)
	}
	cfg, err := mountopts.Parse(args)
	var usageErr *mountopts.UsageError
	switch {
	case errors.Is(err, mountopts.ErrHelp):
		fmt.Fprint(stdout, mountopts.Usage())
		return 0
	case errors.Is(err, mountopts.ErrVersion):
		fmt.Fprintln(stdout, versionString())
		return 0
	case errors.As(err, &usageErr):
		fmt.Fprintf(stderr, "imapfs: %v\nTry 'imapfs --help' for more information.\n", err)
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "imapfs: %v\n", err)
		return 1
	}
	if os.Getenv(daemonEnv) == "1" {
		return runDaemon(cfg)
	}
	pass := "" // with --oauth-token-command, each connection asks it for a token
	if cfg.OAuthTokenCommand == "" {
		if pass, err = password(cfg); err != nil {
			fmt.Fprintf(stderr, "imapfs: %v\n", err)
			return 1
		}
	}
	if !cfg.Foreground {
		if err := detach(cfg, args, pass); err != nil {
			fmt.Fprintf(stderr, "imapfs: %v\n", err)
			return 1
		}
		return 0
	}
	w, logs, err := logTo(cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "imapfs: %v\n", err)
		return 1
	}
	log := newLogger(w, cfg)
	tell := func(msg string) {
		if logs != nil { // else the log is stderr, and has it
			fmt.Fprintf(stderr, "imapfs: %s\n", msg)
		}
	}
	err = serve(cfg, pass, log, logs, tell, func(err error) {
		if err == nil {
			log.Info("mounted", "server", cfg.Server.String())
			if err := notifySystemd(); err != nil {
				log.Warn("cannot tell systemd the mount is live", "err", err)
			}
		}
	})
	if err != nil {
		fmt.Fprintf(stderr, "imapfs: %v\n", err)
		return 1
	}
	return 0
}

// versionString is the version, with the source revision when the binary
// was built from a version-controlled tree.
func versionString() string {
	v := "imapfs " + version
	if info, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", false
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			v += " (" + rev
			if dirty {
				v += ", modified"
			}
			v += ")"
		}
		v += " " + info.GoVersion
	}
	return v
}
