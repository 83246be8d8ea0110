// Package mountopts turns imapfs's command line, its -o mount options (what
// fstab and mount -t fuse.imapfs pass) and its flags into one validated
// Config.
package mountopts

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Config is everything the command line says.
type Config struct {
	Server     Server
	Mountpoint string

	Foreground         bool
	PasswordFile       string
	PasswordCommand    string
	Plaintext          bool // allow imap:// without TLS
	CAFile             string
	CertFile           string
	KeyFile            string
	InsecureSkipVerify bool
	Tunnel             string // speak IMAP over this command's stdin/stdout
	ReadOnly           bool
	AllowOther         bool
	CacheDir           string // where message bodies are kept on disk too; "" for nowhere
	CacheDirSize       int64  // bytes of message bodies kept in CacheDir
	CacheSize          int64  // bytes of message bodies kept in memory
	Connections        int
	Debug              bool
	LogFile            string        // where the log goes; "" for the default (stderr with -f)
	Timeout            time.Duration // how long a request waits for the server
	DirCacheTime       time.Duration // how long a listing or the folder list is trusted without asking the server
	// ExpungeAllDeleted lets rm and mv work on a server without UIDPLUS,
	// with a plain EXPUNGE, which also removes every message another
	// client marked \Deleted.
	ExpungeAllDeleted bool
	// Auth is how to sign in: "" for the best the server offers for the
	// credential given, else one of AuthMechanisms.
	Auth string
	// OAuthTokenCommand, if set, gives an OAuth2 access token instead of
	// a password: it is run with sh -c for every new connection, so that
	// a token that expired is replaced by a fresh one.
	OAuthTokenCommand string

	// Given only as -o options, in sshfs's words, as fstab lines copy them.

	// DefaultPermissions makes the kernel check the mode bits
	// (-o default_permissions; always so with AllowOther).
	DefaultPermissions bool
	// AttrTimeout and EntryTimeout are how long the kernel may cache
	// attributes and names (-o attr_timeout=SECONDS, entry_timeout=);
	// nil when not given, for imapfs's own choice.
	AttrTimeout  *time.Duration
	EntryTimeout *time.Duration
	// UID and GID own every file and directory (-o uid=N, gid=N); -1
	// when not given, for the mounting user's.
	UID, GID int
	// Umask clears mode bits (-o umask=OCTAL): directories have 0777 and
	// files 0666 less these. The default, 077, keeps the mail to its
	// owner, also with allow_other.
	Umask os.FileMode
}

// DefaultUmask keeps mail private: owner-only files and directories.
const DefaultUmask os.FileMode = 0o077

// Server is the SERVER argument: imaps://[USER@]HOST[:PORT] or
// imap://[USER@]HOST[:PORT].
type Server struct {
	ImplicitTLS bool // imaps://; otherwise imap:// with STARTTLS
	User        string
	Host        string
	Port        int
}

// Address is HOST:PORT.
func (s Server) Address() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

func (s Server) String() string {
	scheme := "imap"
	if s.ImplicitTLS {
		scheme = "imaps"
	}
	user := ""
	if s.User != "" {
		user = url.PathEscape(s.User) + "@"
	}
	return scheme + "://" + user + s.Address()
}

// Source is the account as its URL, without the scheme's default port:
// the mount's source in /proc/mounts, df and findmnt, so that several
// mounts can be told apart.
func (s Server) Source() string {
	if (s.ImplicitTLS && s.Port == 993) || (!s.ImplicitTLS && s.Port == 143) {
		return strings.TrimSuffix(s.String(), ":"+strconv.Itoa(s.Port))
	}
	return s.String()
}

// AuthMechanisms are the values of --auth: three that send a password,
// two that send an OAuth2 token.
var AuthMechanisms = []string{"plain", "login", "cram-md5", "xoauth2", "oauthbearer"}

// TokenAuth reports whether mechanism (one of AuthMechanisms) sends an
// OAuth2 token rather than a password.
func TokenAuth(mechanism string) bool { return mechanism == "xoauth2" || mechanism == "oauthbearer" }

// Defaults of the flags that have one.
const (
	DefaultCacheSize    = 256 << 20
	DefaultCacheDirSize = 10 << 30
	DefaultConnections  = 4
	DefaultTimeout      = 60 * time.Second
	DefaultDirCacheTime = 2 * time.Second
)

// ErrHelp and ErrVersion are returned when the command line asks for help
// or the version instead of a mount.
var (
	ErrHelp    = errors.New("help requested")
	ErrVersion = errors.New("version requested")
)

// UsageError is a command line that cannot be understood; imapfs prints it
// with a hint and exits with status 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// parsed holds the raw flag values before validation.
type parsed struct {
	cfg          Config
	user         string
	cacheSize    string
	cacheDirSize string
	options      []string
	help         bool
	version      bool
}

func newFlagSet(p *parsed) *pflag.FlagSet {
	fs := pflag.NewFlagSet("imapfs", pflag.ContinueOnError)
	fs.SortFlags = false
	fs.SetOutput(discard{})
	c := &p.cfg
	fs.BoolVarP(&c.Foreground, "foreground", "f", false, "stay in the foreground instead of detaching once mounted")
	fs.StringArrayVarP(&p.options, "options", "o", nil, "mount options `a,b=c`: any long flag as name=value (- or _), ro, rw, allow_other, and sshfs's default_permissions, reconnect, uid=N, gid=N, umask=M (default 077: mail is private), attr_timeout=S, entry_timeout=S")
	fs.StringVar(&p.user, "user", "", "IMAP user `NAME` (instead of USER@ in SERVER)")
	fs.StringVar(&c.PasswordFile, "password-file", "", "read the password from the first line of `FILE`")
	fs.StringVar(&c.PasswordCommand, "password-command", "", "run `CMD` with sh -c and use the first line it prints as the password")
	fs.StringVar(&c.OAuthTokenCommand, "oauth-token-command", "", "sign in with an OAuth2 access token instead of a password: run `CMD` with sh -c for each new connection and use the first line it prints (e.g. 'oama access me@example.com')")
	fs.StringVar(&c.Auth, "auth", "", "sign in with `MECH`: plain, login, cram-md5 (a password), xoauth2, oauthbearer (a token); default: the best the server offers")
	fs.BoolVar(&c.Plaintext, "plaintext", false, "allow imap:// servers that offer no STARTTLS (password sent in clear)")
	fs.StringVar(&c.CAFile, "ca-file", "", "trust the CA certificates in `FILE` (PEM) instead of the system's")
	fs.StringVar(&c.CertFile, "cert-file", "", "client certificate `FILE` (PEM) for TLS")
	fs.StringVar(&c.KeyFile, "key-file", "", "private key `FILE` (PEM) of --cert-file")
	fs.BoolVar(&c.InsecureSkipVerify, "insecure-skip-verify", false, "do not verify the server's certificate (dangerous)")
	fs.StringVar(&c.Tunnel, "tunnel", "", "speak IMAP over the stdin/stdout of `CMD` (run with sh -c), e.g. 'ssh host /usr/lib/dovecot/imap'")
	fs.BoolVar(&c.ReadOnly, "read-only", false, "mount read-only: mailboxes are EXAMINEd, every change fails with EROFS")
	fs.BoolVar(&c.AllowOther, "allow-other", false, "let other users access the mount (with the kernel's permission checks)")
	fs.StringVar(&c.CacheDir, "cache-dir", "", "keep message bodies in `DIR` on disk too, across mounts")
	fs.StringVar(&p.cacheDirSize, "cache-dir-size", "10G", "disk for cached message bodies in --cache-dir: `SIZE` in bytes, or with K, M, G")
	fs.StringVar(&p.cacheSize, "cache-size", "256M", "memory for cached message bodies: `SIZE` in bytes, or with K, M, G")
	fs.IntVar(&c.Connections, "connections", DefaultConnections, "at most `N` connections to the server")
	fs.DurationVar(&c.Timeout, "timeout", DefaultTimeout, "fail a request with EIO when the server has not answered after this long")
	fs.DurationVar(&c.DirCacheTime, "dir-cache-time", DefaultDirCacheTime, "trust a mailbox listing and the folder list this long without asking the server (SIGHUP drops them at once)")
	fs.BoolVar(&c.ExpungeAllDeleted, "expunge-all-deleted", false, "on servers without UIDPLUS, let rm and mv use a plain EXPUNGE, which also removes every message others marked \\Deleted")
	fs.StringVar(&c.LogFile, "log-file", "", "write the log to `FILE` (default: stderr with -f, else ~/.local/state/imapfs/imapfs.log); SIGHUP reopens it")
	fs.BoolVarP(&c.Debug, "debug", "d", false, "log the IMAP protocol (credentials redacted) and FUSE requests")
	fs.BoolVarP(&p.help, "help", "h", false, "show this help")
	fs.BoolVar(&p.version, "version", false, "print the version")
	return fs
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Usage is the text of imapfs --help.
func Usage() string {
	var b strings.Builder
	b.WriteString(`Usage: imapfs [flags] SERVER MOUNTPOINT

Mount an IMAP account: mailboxes are directories, messages are <UID>.eml files.

  SERVER   imaps://[USER@]HOST[:PORT]   implicit TLS, default port 993
           imap://[USER@]HOST[:PORT]    STARTTLS required, default port 143

The password comes from --password-file, --password-command, $IMAPFS_PASSWORD,
~/.netrc, or a prompt on the terminal, in that order; never from the command line.
With --oauth-token-command, an OAuth2 access token replaces the password
(XOAUTH2 or OAUTHBEARER: Outlook, Microsoft 365, Gmail).

Flags:
`)
	b.WriteString(newFlagSet(&parsed{}).FlagUsages())
	b.WriteString(`
Unmount with: fusermount3 -u MOUNTPOINT (or SIGINT/SIGTERM to imapfs).
SIGHUP drops cached listings and reopens the log file; SIGUSR1 logs statistics.
`)
	return b.String()
}

// mountGenericOptions are options mount(8) and fstab pass to every
// filesystem; they mean nothing to imapfs.
var mountGenericOptions = map[string]bool{
	"defaults": true, "auto": true, "noauto": true, "user": true, "nouser": true, "users": true,
	"dev": true, "nodev": true, "suid": true, "nosuid": true, "exec": true, "noexec": true,
	"atime": true, "noatime": true, "relatime": true, "_netdev": true, "nofail": true,
}

// Parse reads the arguments after the program name.
func Parse(args []string) (*Config, error) {
	p := &parsed{cfg: Config{UID: -1, GID: -1, Umask: DefaultUmask}}
	fs := newFlagSet(p)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, ErrHelp
		}
		return nil, usagef("%v", err)
	}
	if p.help {
		return nil, ErrHelp
	}
	if p.version {
		return nil, ErrVersion
	}
	if err := applyOptions(fs, &p.cfg, p.options); err != nil {
		return nil, err
	}
	if fs.NArg() != 2 {
		return nil, usagef("expected SERVER and MOUNTPOINT, got %d argument(s)", fs.NArg())
	}
	c := &p.cfg
	var err error
	if c.Server, err = ParseServer(fs.Arg(0)); err != nil {
		return nil, err
	}
	c.Mountpoint = fs.Arg(1)
	if c.Mountpoint == "" {
		return nil, usagef("empty MOUNTPOINT")
	}
	switch {
	case p.user == "":
	case c.Server.User == "":
		c.Server.User = p.user
	case c.Server.User != p.user:
		return nil, usagef("--user %q contradicts the user %q in SERVER", p.user, c.Server.User)
	}
	if c.CacheSize, err = ParseSize(p.cacheSize); err != nil {
		return nil, usagef("--cache-size: %v", err)
	}
	if c.CacheDirSize, err = ParseSize(p.cacheDirSize); err != nil {
		return nil, usagef("--cache-dir-size: %v", err)
	}
	if c.CacheDirSize <= 0 {
		return nil, usagef("--cache-dir-size must be positive (without --cache-dir there is no disk cache)")
	}
	if c.CacheDir != "" {
		// The background process must find it whatever its directory.
		if c.CacheDir, err = filepath.Abs(c.CacheDir); err != nil {
			return nil, usagef("--cache-dir: %v", err)
		}
	}
	if c.LogFile != "" {
		if c.LogFile, err = filepath.Abs(c.LogFile); err != nil {
			return nil, usagef("--log-file: %v", err)
		}
	}
	if c.Connections < 1 {
		return nil, usagef("--connections must be at least 1")
	}
	if c.DirCacheTime <= 0 {
		return nil, usagef("--dir-cache-time must be positive")
	}
	if c.Timeout <= 0 {
		return nil, usagef("--timeout must be positive")
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, usagef("--cert-file and --key-file go together")
	}
	if c.PasswordFile != "" && c.PasswordCommand != "" {
		return nil, usagef("--password-file and --password-command exclude each other")
	}
	if err := checkAuth(c); err != nil {
		return nil, err
	}
	return c, nil
}

// checkAuth checks that --auth names a mechanism and that the credential
// given is the one it sends.
func checkAuth(c *Config) error {
	c.Auth = strings.ToLower(c.Auth)
	token := c.OAuthTokenCommand != ""
	switch {
	case c.Auth != "" && !slices.Contains(AuthMechanisms, c.Auth):
		return usagef("--auth %q: the mechanisms are %s", c.Auth, strings.Join(AuthMechanisms, ", "))
	case token && (c.PasswordFile != "" || c.PasswordCommand != ""):
		return usagef("--oauth-token-command gives a token, not a password: it excludes --password-file and --password-command")
	case c.Auth != "" && TokenAuth(c.Auth) && !token:
		return usagef("--auth %s signs in with an OAuth2 token: give --oauth-token-command", c.Auth)
	case c.Auth != "" && !TokenAuth(c.Auth) && token:
		return usagef("--auth %s signs in with a password, not the token of --oauth-token-command", c.Auth)
	}
	return nil
}

// applyOptions applies -o items after the flags, so they win over flags.
func applyOptions(fs *pflag.FlagSet, c *Config, options []string) error {
	for _, list := range options {
		for _, item := range splitOptions(list) {
			if item == "" {
				continue
			}
			name, value, hasValue := strings.Cut(item, "=")
			name = strings.ReplaceAll(name, "_", "-")
			switch {
			case name == "default-permissions" && !hasValue:
				c.DefaultPermissions = true
				continue
			case name == "reconnect" && !hasValue:
				// imapfs always reconnects.
				continue
			case name == "attr-timeout" || name == "entry-timeout":
				d, err := parseSeconds(value)
				if err != nil {
					return usagef("mount option %q: %v", item, err)
				}
				if name == "attr-timeout" {
					c.AttrTimeout = &d
				} else {
					c.EntryTimeout = &d
				}
				continue
			case name == "uid" || name == "gid":
				id, err := strconv.ParseUint(value, 10, 32)
				if err != nil || id == 1<<32-1 {
					return usagef("mount option %q: %q is not a numeric id", item, value)
				}
				if name == "uid" {
					c.UID = int(id)
				} else {
					c.GID = int(id)
				}
				continue
			case name == "umask":
				mask, err := strconv.ParseUint(value, 8, 32)
				if err != nil || mask > 0o777 {
					return usagef("mount option %q: %q is not an octal mode such as 022", item, value)
				}
				c.Umask = os.FileMode(mask)
				continue
			case name == "ro" && !hasValue:
				name, value, hasValue = "read-only", "true", true
			case name == "rw" && !hasValue:
				name, value, hasValue = "read-only", "false", true
			case name == "-netdev" || (mountGenericOptions[name] && !hasValue) || strings.HasPrefix(name, "x-"):
				continue
			case name == "options" || name == "help" || name == "version":
				return usagef("-o %s is not a mount option", item)
			}
			f := fs.Lookup(name)
			if f == nil {
				return usagef("unknown mount option %q", item)
			}
			if !hasValue {
				if f.Value.Type() != "bool" {
					return usagef("mount option %q needs a value (%s=...)", name, name)
				}
				value = "true"
			}
			if err := fs.Set(name, value); err != nil {
				return usagef("mount option %q: %v", item, err)
			}
		}
	}
	return nil
}

// splitOptions splits a,b=c at its commas; as in libfuse, "\," is a comma
// inside a value (password_command=cut -d\, -f1 f) and "\\" a backslash.
func splitOptions(list string) []string {
	var items []string
	var item strings.Builder
	for i := 0; i < len(list); i++ {
		switch c := list[i]; {
		case c == '\\' && i+1 < len(list) && (list[i+1] == ',' || list[i+1] == '\\'):
			i++
			item.WriteByte(list[i])
		case c == ',':
			items = append(items, item.String())
			item.Reset()
		default:
			item.WriteByte(c)
		}
	}
	return append(items, item.String())
}

// parseSeconds reads a time in seconds, as sshfs and libfuse take
// attr_timeout and entry_timeout: "5", "0.5".
func parseSeconds(s string) (time.Duration, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1e9 {
		return 0, fmt.Errorf("%q is not a number of seconds", s)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// ParseServer parses the SERVER argument.
func ParseServer(s string) (Server, error) {
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" {
		return Server{}, usagef("SERVER %q is not imaps://[USER@]HOST[:PORT] or imap://[USER@]HOST[:PORT]", s)
	}
	var srv Server
	switch u.Scheme {
	case "imaps":
		srv.ImplicitTLS, srv.Port = true, 993
	case "imap":
		srv.Port = 143
	default:
		return Server{}, usagef("SERVER %q: the scheme must be imaps:// or imap://", s)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		return Server{}, usagef("SERVER %q: no path or query after the host", s)
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			return Server{}, usagef("SERVER %q: a password does not belong on the command line; see --password-file", s)
		}
		srv.User = u.User.Username()
	}
	srv.Host = u.Hostname()
	if srv.Host == "" {
		return Server{}, usagef("SERVER %q has no host", s)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Server{}, usagef("SERVER %q: bad port %q", s, p)
		}
		srv.Port = n
	}
	return srv, nil
}

// ParseSize reads a byte count with an optional K, M, G or T suffix (powers
// of 1024; "KiB", "MB" and such are accepted too).
func ParseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	shift := 0
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			shift = 10
		case 'M':
			shift = 20
		case 'G':
			shift = 30
		case 'T':
			shift = 40
		}
		if shift > 0 {
			t = t[:n-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)>>shift {
		return 0, fmt.Errorf("%q is not a size such as 268435456, 512M or 2G", s)
	}
	return n << shift, nil
}
