package mountopts

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestParseFlagsAndOptions(t *testing.T) {
	c, err := Parse([]string{"-f", "--ca-file", "ca.pem", "imaps://me@mail.example.com", "/mnt/mail",
		"-o", "ro,allow_other,cache_size=1G,connections=8,_netdev,noauto,x-systemd.automount", "-o", "timeout=5s"})
	if err != nil {
		t.Fatal(err)
	}
	want := Server{ImplicitTLS: true, User: "me", Host: "mail.example.com", Port: 993}
	if c.Server != want {
		t.Errorf("server %+v, want %+v", c.Server, want)
	}
	if !c.Foreground || !c.ReadOnly || !c.AllowOther || c.CAFile != "ca.pem" || c.Mountpoint != "/mnt/mail" {
		t.Errorf("config %+v", c)
	}
	if c.CacheSize != 1<<30 || c.Connections != 8 || c.Timeout != 5*time.Second {
		t.Errorf("cache %d connections %d timeout %v", c.CacheSize, c.Connections, c.Timeout)
	}
}

// sshfs's options, as fstab lines copy them.
func TestSSHFSOptions(t *testing.T) {
	c, err := Parse([]string{"-o", "default_permissions,reconnect,attr_timeout=5,entry_timeout=0.5", "imaps://host", "m"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.DefaultPermissions || c.AttrTimeout == nil || *c.AttrTimeout != 5*time.Second || c.EntryTimeout == nil || *c.EntryTimeout != 500*time.Millisecond {
		t.Errorf("default_permissions %v, attr_timeout %v, entry_timeout %v", c.DefaultPermissions, c.AttrTimeout, c.EntryTimeout)
	}
	if c.UID != -1 || c.GID != -1 || c.Umask != 0o077 {
		t.Errorf("by default uid %d gid %d umask %o, want -1 -1 077", c.UID, c.GID, c.Umask)
	}
	// 0 is a timeout given, not imapfs's own choice.
	if c, err := Parse([]string{"-o", "attr_timeout=0,entry_timeout=0", "imaps://host", "m"}); err != nil || c.AttrTimeout == nil || *c.AttrTimeout != 0 || c.EntryTimeout == nil || *c.EntryTimeout != 0 {
		t.Errorf("attr_timeout=0,entry_timeout=0: %+v %v", c, err)
	}
	if c, err := Parse([]string{"-o", "uid=1000,gid=100,umask=022", "imaps://host", "m"}); err != nil || c.UID != 1000 || c.GID != 100 || c.Umask != 0o022 {
		t.Errorf("uid=1000,gid=100,umask=022: %+v %v", c, err)
	}
	for _, bad := range []string{"attr_timeout", "attr_timeout=soon", "entry_timeout=-1", "reconnect=yes",
		"uid", "uid=me", "gid=-1", "umask=8", "umask=1000", "umask"} {
		if _, err := Parse([]string{"-o", bad, "imaps://host", "m"}); err == nil {
			t.Errorf("-o %s accepted", bad)
		}
	}
}

// A FUSE option imapfs does not know fails with one line naming it.
func TestUnknownFUSEOption(t *testing.T) {
	for _, opt := range []string{"kernel_cache", "max_read=65536", "auto_cache"} {
		_, err := Parse([]string{"-o", "noauto," + opt, "imaps://host", "m"})
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(ue.Msg, opt) || strings.Contains(ue.Msg, "\n") {
			t.Errorf("-o %s: %v, want one line naming it", opt, err)
		}
	}
}

func TestSource(t *testing.T) {
	for in, want := range map[string]string{
		"imaps://alice@imap.example.com":      "imaps://alice@imap.example.com",
		"imaps://alice@imap.example.com:993":  "imaps://alice@imap.example.com",
		"imap://bob@imap.example.com:993":     "imap://bob@imap.example.com:993",
		"imap://a%2Cb@[::1]":                  "imap://a%2Cb@[::1]",
		"imaps://me@example.com@mail.example": "imaps://me@example.com@mail.example",
	} {
		srv, err := ParseServer(in)
		if err != nil || srv.Source() != want {
			t.Errorf("%s: source %q, %v; want %q", in, srv.Source(), err, want)
		}
	}
}

// "\," is a comma inside an option's value, as in libfuse; mount(8) and
// mount.fuse3 pass it on as it is.
func TestOptionComma(t *testing.T) {
	c, err := Parse([]string{"-o", `noauto,password_command=cut -d\, -f2 ~/.pass,ca_file=a\\b`, "imaps://host", "m"})
	if err != nil {
		t.Fatal(err)
	}
	if c.PasswordCommand != "cut -d, -f2 ~/.pass" || c.CAFile != `a\b` {
		t.Errorf("password_command %q, ca_file %q", c.PasswordCommand, c.CAFile)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse([]string{"imap://[::1]:1143", "m"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Server != (Server{Host: "::1", Port: 1143}) || c.Server.Address() != "[::1]:1143" {
		t.Errorf("server %+v", c.Server)
	}
	if c.CacheSize != DefaultCacheSize || c.CacheDirSize != DefaultCacheDirSize || c.CacheDir != "" || c.Connections != DefaultConnections || c.Timeout != DefaultTimeout || c.ReadOnly {
		t.Errorf("defaults %+v", c)
	}
}

func TestCacheDir(t *testing.T) {
	c, err := Parse([]string{"-o", "cache_dir=mailcache,cache_dir_size=2G", "imaps://host", "m"})
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(c.CacheDir) || filepath.Base(c.CacheDir) != "mailcache" || c.CacheDirSize != 2<<30 {
		t.Errorf("cache dir %q of %d bytes", c.CacheDir, c.CacheDirSize)
	}
	for _, bad := range []string{"lots", "0"} {
		if _, err := Parse([]string{"--cache-dir", "c", "--cache-dir-size", bad, "imaps://host", "m"}); err == nil {
			t.Errorf("--cache-dir-size %s was accepted", bad)
		}
	}
}

// --log-file becomes absolute (the background process may run elsewhere);
// --dir-cache-time is a positive duration, 2s unless given.
func TestLogFileAndDirCacheTime(t *testing.T) {
	c, err := Parse([]string{"-o", "log_file=imapfs.log,dir_cache_time=1h", "imaps://host", "m"})
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(c.LogFile) || filepath.Base(c.LogFile) != "imapfs.log" || c.DirCacheTime != time.Hour {
		t.Errorf("log file %q, dir cache time %v", c.LogFile, c.DirCacheTime)
	}
	if c, err := Parse([]string{"imaps://host", "m"}); err != nil || c.LogFile != "" || c.DirCacheTime != DefaultDirCacheTime {
		t.Errorf("defaults: log file %q, dir cache time %v, %v", c.LogFile, c.DirCacheTime, err)
	}
	for _, bad := range []string{"0s", "-1s", "soon"} {
		if _, err := Parse([]string{"--dir-cache-time", bad, "imaps://host", "m"}); err == nil {
			t.Errorf("--dir-cache-time %s was accepted", bad)
		}
	}
}

func TestUserFlag(t *testing.T) {
	c, err := Parse([]string{"--user", "a@b.c", "imaps://host", "m"})
	if err != nil || c.Server.User != "a@b.c" {
		t.Fatalf("%+v %v", c, err)
	}
	c, err = Parse([]string{"-o", "user=me,rw", "imaps://me@host", "m"})
	if err != nil || c.Server.User != "me" || c.ReadOnly {
		t.Fatalf("%+v %v", c, err)
	}
	if _, err := Parse([]string{"--user", "x", "imaps://y@host", "m"}); err == nil {
		t.Error("contradicting users accepted")
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"imaps://host"},
		{"imaps://host", "m", "extra"},
		{"http://host", "m"},
		{"host", "m"},
		{"imaps://", "m"},
		{"imaps://host:99999", "m"},
		{"imaps://host:x", "m"},
		{"imaps://me:secret@host", "m"},
		{"imaps://host/INBOX", "m"},
		{"--no-such-flag", "imaps://host", "m"},
		{"-o", "bogus", "imaps://host", "m"},
		{"-o", "ca_file", "imaps://host", "m"},
		{"-o", "connections=many", "imaps://host", "m"},
		{"--connections", "0", "imaps://host", "m"},
		{"--cache-size", "lots", "imaps://host", "m"},
		{"--cert-file", "c.pem", "imaps://host", "m"},
		{"--password-file", "f", "--password-command", "c", "imaps://host", "m"},
		{"--auth", "gssapi", "imaps://host", "m"},
		{"--auth", "xoauth2", "imaps://host", "m"},
		{"-o", "auth=oauthbearer", "imaps://host", "m"},
		{"--auth", "plain", "--oauth-token-command", "oama access me", "imaps://host", "m"},
		{"--oauth-token-command", "oama access me", "--password-file", "f", "imaps://host", "m"},
	} {
		_, err := Parse(args)
		var ue *UsageError
		if !errors.As(err, &ue) {
			t.Errorf("Parse(%q) = %v, want a UsageError", args, err)
		} else if strings.Contains(ue.Msg, "\n") {
			t.Errorf("Parse(%q): multi-line message %q", args, ue.Msg)
		}
	}
}

// --auth and --oauth-token-command, as flags and as -o options (a comma
// in the command escaped).
func TestAuth(t *testing.T) {
	for _, tc := range []struct {
		args         []string
		auth, tokens string
	}{
		{[]string{"imaps://host", "m"}, "", ""},
		{[]string{"--auth", "CRAM-MD5", "imaps://host", "m"}, "cram-md5", ""},
		{[]string{"-o", "auth=login", "imaps://host", "m"}, "login", ""},
		{[]string{"--oauth-token-command", "oama access me", "imaps://host", "m"}, "", "oama access me"},
		{[]string{"--auth", "xoauth2", "--oauth-token-command", "oama access me", "imaps://host", "m"}, "xoauth2", "oama access me"},
		{[]string{"-o", `auth=oauthbearer,oauth_token_command=cut -d\, -f2 tokens`, "imaps://host", "m"}, "oauthbearer", "cut -d, -f2 tokens"},
	} {
		c, err := Parse(tc.args)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.args, err)
			continue
		}
		if c.Auth != tc.auth || c.OAuthTokenCommand != tc.tokens {
			t.Errorf("Parse(%q): auth %q, token command %q; want %q, %q", tc.args, c.Auth, c.OAuthTokenCommand, tc.auth, tc.tokens)
		}
	}
}

func TestHelpAndVersion(t *testing.T) {
	if _, err := Parse([]string{"--help"}); err != ErrHelp {
		t.Errorf("--help: %v", err)
	}
	if _, err := Parse([]string{"-h", "imaps://host", "m"}); err != ErrHelp {
		t.Errorf("-h: %v", err)
	}
	if _, err := Parse([]string{"--version"}); err != ErrVersion {
		t.Errorf("--version: %v", err)
	}
	u := Usage()
	for _, want := range []string{"imapfs [flags] SERVER MOUNTPOINT", "imaps://[USER@]HOST[:PORT]", "--password-file", "--tunnel", "--read-only", "-o, --options"} {
		if !strings.Contains(u, want) {
			t.Errorf("usage lacks %q", want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "4096": 4096, "64K": 64 << 10, "512M": 512 << 20, "2G": 2 << 30, "1GiB": 1 << 30, "3mb": 3 << 20, "1T": 1 << 40} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5G", "G", "12X", "99999999999T"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
}

// Every flag is documented in the man page and in docs/usage.md.
func TestFlagsDocumented(t *testing.T) {
	man, err := os.ReadFile("../docs/imapfs.1")
	if err != nil {
		t.Fatal(err)
	}
	usage, err := os.ReadFile("../docs/usage.md")
	if err != nil {
		t.Fatal(err)
	}
	newFlagSet(&parsed{}).VisitAll(func(f *pflag.Flag) {
		if f.Name == "help" || f.Name == "options" {
			return
		}
		if !strings.Contains(string(man), `\-\-`+strings.ReplaceAll(f.Name, "-", `\-`)) {
			t.Errorf("docs/imapfs.1 does not document --%s", f.Name)
		}
		if !strings.Contains(string(usage), "--"+f.Name) {
			t.Errorf("docs/usage.md does not document --%s", f.Name)
		}
	})
}
