package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	stdlog "log"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode"

	"bazil.org/fuse"

	"imapfs/cache"
	"imapfs/fs"
	"imapfs/imapclient"
	"imapfs/mountopts"
)

// serve mounts the account and serves it until it is unmounted (by
// fusermount3 -u, or SIGINT/SIGTERM). ready is called once: with nil when
// the mount is live, or with the error that prevented it. tell, called
// before ready, puts a line that needs the user on the terminal that
// mounted (the log has it too). logs, if not nil, is the log's file,
// reopened on SIGHUP.
func serve(cfg *mountopts.Config, pass string, log *slog.Logger, logs *logFile, tell func(string), ready func(error)) error {
	fail := func(err error) error {
		ready(err)
		return err
	}
	if err := checkMountpoint(cfg.Mountpoint); err != nil {
		return fail(err)
	}
	if err := checkFUSE(); err != nil {
		return fail(err)
	}
	// Let the garbage collector work harder rather than let the process
	// grow past what it holds (see memoryLimit).
	defer followMemoryLimit(cfg.CacheSize)()
	tlsConfig, err := clientTLS(cfg)
	if err != nil {
		return fail(err)
	}
	var store *cache.Store
	counters := &imapclient.Counters{}
	pool := imapclient.NewPool(imapclient.PoolConfig{
		Dial: func(ctx context.Context, opts imapclient.Options) (*imapclient.Client, error) {
			opts.Logger, opts.Debug, opts.Counters = log, debugLevel(cfg), counters
			return dialAndLogin(ctx, cfg, tlsConfig, pass, opts)
		},
		Size:     cfg.Connections,
		ReadOnly: cfg.ReadOnly,
		Updates:  func(mailbox string, u imapclient.Update) { store.Update(mailbox, u) },
		Logger:   log,
	})
	defer pool.Close()
	// The spool and the disk cache hold mail: they must be this user's
	// alone, as the mount's files are by default.
	spool := ""
	if !cfg.ReadOnly {
		if spool, err = spoolPath(); err == nil {
			err = privateDir(spool)
		}
		if err != nil {
			return fail(fmt.Errorf("spool: %w", err))
		}
		// Before the mount is live, so that whoever waits for it finds
		// the report in the log.
		if msg := logSpooled(log, spool, cfg.Mountpoint); msg != "" {
			tell(msg)
		}
	}
	var disk *cache.Disk
	if cfg.CacheDir != "" {
		if err := privateDir(cfg.CacheDir); err != nil {
			return fail(fmt.Errorf("--cache-dir: %w", err))
		}
		// One directory per account: the server, the user and how it is
		// reached.
		account := cfg.Server.String() + "\x00" + cfg.Tunnel
		if disk, err = cache.OpenDisk(cfg.CacheDir, account, cfg.CacheDirSize, log); err != nil {
			return fail(fmt.Errorf("--cache-dir: %w", err))
		}
		defer disk.Close()
	}
	store = cache.New(cache.Config{Pool: pool, CacheSize: cfg.CacheSize, Disk: disk, TTL: cfg.DirCacheTime, Logger: log,
		ExpungeAllDeleted: cfg.ExpungeAllDeleted})

	// Log in once before mounting, so a wrong password or token, a
	// mechanism the server does not offer, or an unreachable server is
	// reported at once and nothing is left mounted (the pool would keep
	// retrying in the background). The connection is the pool's first,
	// and it asks for the folder list while the mount is made: the first
	// ls or stat of the root needs it.
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	err = pool.Connect(ctx)
	cancel()
	if err != nil {
		return fail(err)
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
		defer cancel()
		if _, err := store.Folders(ctx); err != nil {
			log.Debug("the folder list asked at mount failed; the first ls asks again", "err", err)
		}
	}()

	options := []fuse.MountOption{
		fuse.FSName(cfg.Server.Source()), fuse.Subtype("imapfs"),
		fuse.MaxReadahead(128 << 10), fuse.AsyncRead(),
	}
	if cfg.ReadOnly {
		options = append(options, fuse.ReadOnly())
	}
	if cfg.AllowOther {
		options = append(options, fuse.AllowOther())
	}
	if cfg.AllowOther || cfg.DefaultPermissions {
		options = append(options, fuse.DefaultPermissions())
	}
	// Signals are caught from before the mount is live: one that came
	// between the mount and the handler would end the process with the
	// mount left dead ("Transport endpoint is not connected").
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(signals)
	// Nor may a write to a closed pipe kill it (the reader of -f's stderr
	// gone): the write fails, and the mount goes on.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	abs, err := realPath(cfg.Mountpoint)
	if err != nil {
		return fail(fmt.Errorf("mountpoint %s: %w", cfg.Mountpoint, err))
	}
	conn, err := mountFUSE(cfg.Mountpoint, log, options...)
	if err != nil {
		return fail(err)
	}
	defer conn.Close()
	// The mount's device: what is unmounted at the end if it is still
	// there, and never another mount made on the same path since.
	device, err := mountDevice(abs)
	if err == nil && device == "" {
		err = errors.New("not listed")
	}
	var abortFile *os.File
	if err != nil {
		log.Warn("cannot find the mount in /proc/self/mountinfo; it will not be unmounted if serving it fails", "err", err)
	} else {
		// The connection's abort file, opened while the device is surely
		// this mount's: it stays this connection's once the device number
		// is another mount's, which a later abort must never reach.
		abortFile = openAbortFile(device)
		if abortFile != nil {
			defer abortFile.Close()
		}
		guard, err := startGuard(abs, device, logs.name())
		if err != nil {
			log.Warn("cannot start the process that unmounts if imapfs dies", "err", err)
		} else {
			defer guard.Close() // the guard then finds the mount gone, and ends
		}
	}
	ready(nil)

	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	if cfg.UID >= 0 {
		uid = uint32(cfg.UID)
	}
	if cfg.GID >= 0 {
		gid = uint32(cfg.GID)
	}
	stats := &statistics{pool: pool, counters: counters, store: store}
	filesystem := fs.New(fs.Config{
		Store: store, Logger: log, ReadOnly: cfg.ReadOnly, Timeout: cfg.Timeout,
		UID: uid, GID: gid, Umask: cfg.Umask, PrefetchBytes: cfg.CacheSize / 4,
		SpoolDir: spool, AttrTimeout: cfg.AttrTimeout, EntryTimeout: cfg.EntryTimeout,
		Stats: stats.text,
	})
	stats.fs = filesystem
	done := make(chan struct{})
	defer close(done)
	go handleSignals(signals, done, cfg, log, logs, store, stats)
	err = filesystem.Serve(conn, cfg.Debug)
	if err != nil {
		log.Error("serving the mount failed", "err", err)
	}
	// However serving ended, nothing may stay mounted without a process
	// behind it: the connection aborted (/sys/fs/fuse/connections), or an
	// error reading requests. Still mounted, the connection is aborted
	// first: nobody answers the requests waiting there, and a thread of
	// imapfs invalidating a name may wait in the kernel for a directory
	// that such a request keeps locked, which would keep imapfs from
	// ending.
	if device != "" {
		if stillMounted(abs, device) {
			if abortFile != nil {
				writeAbort(abortFile, log)
			} else {
				abortConnection(device, log)
			}
		}
		if unmountDead(abs, device, log) && err == nil {
			err = errors.New("the FUSE connection ended while mounted (aborted?); unmounted")
		}
	}
	filesystem.LogPending()
	// What the mount cost, for whoever wonders where the time went (and for
	// the tests and benchmarks, which read it).
	st := store.Stats()
	log.Info("unmounted", "listings", st.ListingFetches.Load(), "refreshes", st.Refreshes.Load(),
		"body_fetches", st.BodyFetches.Load(), "body_bytes", st.BodyBytes.Load(), "prefetches", st.Prefetches.Load(),
		"disk_hits", st.DiskHits.Load(), "fuse_requests", filesystem.Requests())
	return err
}

// handleSignals acts on the signals of a live mount until done:
// SIGINT and SIGTERM unmount; SIGHUP drops what is cached of listings
// and the folder list (the next ls asks the server) and reopens the log
// file (logrotate); SIGUSR1 logs the statistics.
func handleSignals(signals <-chan os.Signal, done <-chan struct{}, cfg *mountopts.Config, log *slog.Logger,
	logs *logFile, store *cache.Store, stats *statistics) {
	for {
		var sig os.Signal
		select {
		case sig = <-signals:
		case <-done:
			return
		}
		switch sig {
		case syscall.SIGHUP:
			store.Forget()
			if logs == nil {
				log.Info("SIGHUP: cached listings dropped")
				break
			}
			if err := logs.Reopen(); err != nil {
				log.Error("SIGHUP: cached listings dropped; cannot reopen the log file, logging on to the old one", "err", err)
				break
			}
			log.Info("SIGHUP: cached listings dropped, log reopened", "log_file", logs.name())
		case syscall.SIGUSR1:
			log.Info("statistics", stats.attrs()...)
		default:
			log.Info("unmounting", "signal", sig.String())
			if err := fuse.Unmount(cfg.Mountpoint); err != nil {
				log.Error("unmount", "err", err)
			}
		}
	}
}

// unmountDead unmounts the mount of device at mountpoint if it is still
// there once serving ended, lazily when something holds it busy, and
// reports whether it was there.
func unmountDead(mountpoint, device string, log *slog.Logger) bool {
	if !stillMounted(mountpoint, device) {
		return false
	}
	log.Error("the mount is still there with nobody serving it; unmounting", "device", device)
	out, err := exec.Command("fusermount3", "-u", mountpoint).CombinedOutput()
	if err != nil {
		log.Warn("unmount failed; unmounting lazily (gone once nothing uses it)", "err", err, "said", strings.TrimSpace(string(out)))
		if out, err := exec.Command("fusermount3", "-u", "-z", mountpoint).CombinedOutput(); err != nil {
			log.Error("lazy unmount failed", "err", err, "said", strings.TrimSpace(string(out)))
		}
	}
	return true
}

// fusectl is where the kernel lists the FUSE connections, each with a
// file that aborts it.
const fusectl = "/sys/fs/fuse/connections"

// abortPath is the file under fusectl that aborts the FUSE connection of
// the mount of device (MAJ:MIN): the kernel names a connection by its
// device number.
func abortPath(device string) (string, error) {
	var major, minor uint64
	if _, err := fmt.Sscanf(device, "%d:%d", &major, &minor); err != nil {
		return "", fmt.Errorf("device %q: %w", device, err)
	}
	return fmt.Sprintf("%s/%d/abort", fusectl, major<<20|minor), nil
}

// abortConnection aborts the FUSE connection of the mount of device,
// mounting fusectl if it is not (root only; without it the mounting user
// writes its connection's file).
func abortConnection(device string, log *slog.Logger) {
	path, err := abortPath(device)
	if err != nil {
		log.Error("cannot abort the FUSE connection", "err", err)
		return
	}
	if m, _ := topMount(fusectl); m.fstype != "fusectl" {
		if err := syscall.Mount("none", fusectl, "fusectl", 0, ""); err != nil {
			log.Error("cannot abort the FUSE connection: fusectl is not mounted and cannot be", "dir", fusectl, "err", err)
			return
		}
		log.Info("mounted fusectl to abort the FUSE connection", "dir", fusectl)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		log.Error("cannot abort the FUSE connection", "err", err)
		return
	}
	defer f.Close()
	writeAbort(f, log)
}

// openAbortFile opens the abort file of the FUSE connection of device;
// nil when there is none to open (fusectl not mounted, or not ours).
func openAbortFile(device string) *os.File {
	path, err := abortPath(device)
	if err != nil {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil
	}
	return f
}

// writeAbort aborts the FUSE connection whose abort file f is: the
// kernel fails every request waiting for an answer, and reads of
// /dev/fuse fail. A file opened before its connection ended aborts
// nothing.
func writeAbort(f *os.File, log *slog.Logger) {
	if _, err := f.Write([]byte("1")); err != nil {
		log.Error("cannot abort the FUSE connection", "file", f.Name(), "err", err)
		return
	}
	log.Warn("aborted the FUSE connection", "file", f.Name())
}

// logSpooled names the files in the spool at mount: new messages that a
// mount which ended (or crashed) before storing them left there, or that
// another mount of the same user is writing. None is stored by itself;
// each is named in the log so that none is lost without a word, after a
// summary that says how to store them, which it returns for the terminal
// ("" when the spool is empty).
func logSpooled(log *slog.Logger, spool, mountpoint string) string {
	entries, err := os.ReadDir(spool)
	if err != nil {
		log.Warn("the spool cannot be read", "spool", spool, "err", err)
		return ""
	}
	var files []os.FileInfo
	for _, e := range entries {
		info, err := e.Info()
		if err == nil && info.Mode().IsRegular() {
			files = append(files, info)
		}
	}
	if len(files) == 0 {
		return ""
	}
	msg := fmt.Sprintf("%d new message(s) not stored are in %s (left by a mount that ended before storing them, "+
		"or being written through another mount): store one with cp FILE %s/MAILBOX/ "+
		"(a message the mailbox holds already is not stored again), then delete it; the log names each file", len(files), spool, mountpoint)
	log.Warn(msg)
	for _, info := range files {
		log.Warn("the spool holds a new message not stored",
			"spool", filepath.Join(spool, info.Name()), "size", info.Size(), "modified", info.ModTime())
	}
	return msg
}

// mountFUSE is fuse.Mount, with what fusermount3 says in the error when
// it fails ("option allow_other only allowed if 'user_allow_other' is set
// in /etc/fuse.conf"): the FUSE library only logs it, through the
// standard log package, and a background imapfs's log is not the
// terminal.
func mountFUSE(dir string, log *slog.Logger, options ...fuse.MountOption) (*fuse.Conn, error) {
	var said bytes.Buffer
	flags, out := stdlog.Flags(), stdlog.Writer()
	stdlog.SetOutput(&said)
	stdlog.SetFlags(0)
	conn, err := fuse.Mount(dir, options...)
	stdlog.SetOutput(out)
	stdlog.SetFlags(flags)
	var lines []string
	for _, line := range strings.Split(strings.TrimSpace(said.String()), "\n") {
		// The library's prefixes for fusermount3's stdout and stderr.
		line = strings.TrimPrefix(strings.TrimPrefix(line, "mount helper error: "), "mount helper output: ")
		if line != "" {
			lines = append(lines, line)
		}
	}
	if err != nil && len(lines) > 0 {
		return nil, fmt.Errorf("mount %s: %s (%v)", dir, strings.Join(lines, "; "), err)
	}
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	for _, line := range lines {
		log.Warn("fusermount3", "said", line)
	}
	return conn, nil
}

// privateDir makes dir (0700) if it is missing, and refuses one that
// another user owns or may write to: they could read the mail kept there,
// or put files of theirs in its place.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	info, err := os.Stat(dir)
	if err != nil {
		return err
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	switch {
	case !info.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	case !ok:
		return fmt.Errorf("%s: cannot tell its owner", dir)
	case int(st.Uid) != os.Getuid():
		return fmt.Errorf("%s belongs to uid %d, not to this user (uid %d); it holds mail, so it must be yours", dir, st.Uid, os.Getuid())
	case info.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("%s may be written by other users (mode %04o); it holds mail: chmod go-w %s", dir, info.Mode().Perm(), shellQuote(dir))
	}
	return nil
}

func debugLevel(cfg *mountopts.Config) int {
	if cfg.Debug {
		return 2
	}
	return 0
}

// checkMountpoint refuses what cannot or should not be mounted on.
func checkMountpoint(path string) error {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, syscall.ENOTCONN):
		// The kernel still holds the mount of a process that is gone
		// (killed, crashed).
		return fmt.Errorf("mountpoint %s is a stale mount whose filesystem no longer runs; clear it with: fusermount3 -u %s", path, shellQuote(path))
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("mountpoint %s does not exist", path)
	case err != nil:
		return fmt.Errorf("mountpoint %s: %w", path, err)
	case !info.IsDir():
		return fmt.Errorf("mountpoint %s is not a directory", path)
	}
	switch fstype, _ := mountedType(path); fstype {
	case "":
	case "autofs":
		// An automount point (x-systemd.automount): this is the mount it
		// waits for, and opening it would wait for this very mount.
		return nil
	default:
		return fmt.Errorf("mountpoint %s is already mounted", path)
	}
	d, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("mountpoint %s: %w", path, err)
	}
	defer d.Close()
	if names, _ := d.Readdirnames(1); len(names) > 0 {
		return fmt.Errorf("mountpoint %s is not empty", path)
	}
	return nil
}

// shellQuote quotes s for sh when it needs it, for a command to copy.
func shellQuote(s string) string {
	plain := func(r rune) bool {
		return r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("/._-+,:@%=", r))
	}
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool { return !plain(r) }) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// checkFUSE tells, before logging in, whether this user may use FUSE:
// fusermount3 opens /dev/fuse as the user, and says only "exit status 1"
// when it cannot.
func checkFUSE() error {
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("cannot use FUSE: %w (is the fuse3 package installed, and may this user open /dev/fuse?)", err)
	}
	return f.Close()
}

// mountedType is the filesystem type of the topmost mount on path, from
// /proc/self/mountinfo; "" when nothing is mounted there.
func mountedType(path string) (string, error) {
	abs, err := realPath(path)
	if err != nil {
		return "", err
	}
	m, err := topMount(abs)
	return m.fstype, err
}

// mountDevice is the device (MAJ:MIN) of the topmost mount on abs, an
// absolute path without symbolic links; "" when nothing is mounted there.
// It does not look at the mount itself, which may not be served yet.
func mountDevice(abs string) (string, error) {
	m, err := topMount(abs)
	return m.device, err
}

// stillMounted reports whether the mount of device is still the one on
// top at mountpoint (absolute, as /proc/self/mountinfo lists it). A
// device number alone does not say: the kernel gives it to another mount
// once this one is gone.
func stillMounted(mountpoint, device string) bool {
	m, err := topMount(mountpoint)
	return err == nil && m.device == device
}

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	device     string // MAJ:MIN
	mountpoint string
	fstype     string
}

// topMount is the mount on top at mountpoint; the zero mountEntry when
// nothing is mounted there.
func topMount(mountpoint string) (mountEntry, error) {
	mounts, err := mounts()
	top := mountEntry{}
	for _, m := range mounts {
		if m.mountpoint == mountpoint {
			top = m // later lines are mounted on top
		}
	}
	return top, err
}

func mounts() ([]mountEntry, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var mounts []mountEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		m := mountEntry{device: fields[2], mountpoint: unescapeOctal(fields[4])}
		if i := slices.Index(fields, "-"); i > 0 && i+1 < len(fields) {
			m.fstype = fields[i+1]
		}
		mounts = append(mounts, m)
	}
	return mounts, sc.Err()
}

func realPath(path string) (string, error) {
	abs, err := os.Getwd()
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(path, "/") {
		path = abs + "/" + path
	}
	return filepath.EvalSymlinks(path)
}

// unescapeOctal undoes mountinfo's \040-style escapes.
func unescapeOctal(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// clientTLS builds the TLS configuration the flags describe.
func clientTLS(cfg *mountopts.Config) (*tls.Config, error) {
	t := &tls.Config{ServerName: cfg.Server.Host, InsecureSkipVerify: cfg.InsecureSkipVerify}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s holds no PEM certificate", cfg.CAFile)
		}
		t.RootCAs = pool
	}
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("--cert-file/--key-file: %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	return t, nil
}

// dialAndLogin opens one logged-in connection as the flags say; pass is
// the password, "" with --oauth-token-command.
func dialAndLogin(ctx context.Context, cfg *mountopts.Config, tlsConfig *tls.Config, pass string, opts imapclient.Options) (*imapclient.Client, error) {
	var c *imapclient.Client
	var err error
	addr := cfg.Server.Address()
	switch {
	case cfg.Tunnel != "":
		c, err = imapclient.DialTunnel(ctx, cfg.Tunnel, os.Stderr, opts)
	case cfg.Server.ImplicitTLS:
		c, err = imapclient.DialTLS(ctx, addr, tlsConfig, opts)
	default:
		if c, err = dialGreeted(ctx, cfg, opts); err != nil {
			break
		}
		err = c.StartTLS(ctx, tlsConfig)
		switch {
		case errors.Is(err, imapclient.ErrNotSupported) && cfg.Plaintext:
			c.AllowPlaintext()
			err = nil
		case errors.Is(err, imapclient.ErrNotSupported):
			c.Close()
			err = fmt.Errorf("%s offers no STARTTLS; use imaps:// or, to send the password in clear, --plaintext", addr)
		case err != nil:
			c.Close()
		}
	}
	if err != nil {
		return nil, explainDial(addr, err)
	}
	if c.State() == imapclient.StateNotAuthenticated {
		if cfg.Server.User == "" {
			c.Close()
			return nil, errors.New("no user: give imaps://USER@HOST or --user")
		}
		if err := signIn(ctx, c, cfg, pass); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// greetingWait is how long a server may take to greet after the
// connection is made. One that says nothing is most likely an
// implicit-TLS port (993) waiting for the client's TLS handshake.
const greetingWait = 10 * time.Second

// dialGreeted connects in plaintext (imap://) and reads the greeting,
// waiting greetingWait at most for it.
func dialGreeted(ctx context.Context, cfg *mountopts.Config, opts imapclient.Options) (*imapclient.Client, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", cfg.Server.Address())
	if err != nil {
		return nil, err
	}
	greetCtx, cancel := context.WithTimeout(ctx, greetingWait)
	defer cancel()
	c, err := imapclient.New(greetCtx, conn, opts)
	if err != nil {
		conn.Close()
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			implicit := cfg.Server
			implicit.ImplicitTLS = true
			return nil, fmt.Errorf("no IMAP greeting within %v; if this port expects TLS at once (993 does), use %s", greetingWait, implicit.Source())
		}
		return nil, err
	}
	return c, nil
}

// explainDial turns network and TLS failures into one clear line.
func explainDial(addr string, err error) error {
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var notTLS tls.RecordHeaderError
	switch {
	case errors.As(err, &notTLS):
		return fmt.Errorf("%s does not answer in TLS (%v); for a port that starts in plaintext and upgrades with STARTTLS (143), use imap://", addr, err)
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr):
		return fmt.Errorf("%s: TLS certificate not trusted (%v); see --ca-file", addr, err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%s: connection refused", addr)
	}
	return fmt.Errorf("%s: %w", addr, err)
}
