package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// dovecotConf is a private Dovecot: loopback only, Maildir, ACL (vfile),
// QUOTA and METADATA, STARTTLS and implicit TLS, plaintext LOGIN allowed,
// a master user, a shared namespace. Messages are stored with CRLF so the
// Maildir files hold the exact bytes IMAP serves.
var dovecotConf = template.Must(template.New("dovecot.conf").Parse(`
base_dir = {{.Dir}}/run
state_dir = {{.Dir}}/state
instance_name = imapfs-test-{{.Port}}
log_path = {{.Dir}}/dovecot.log
protocols = imap
listen = 127.0.0.1
{{- if .Options.NoTLS}}
ssl = no
{{- else}}
ssl = yes
ssl_cert = <{{.TLS.CertFile}}
ssl_key = <{{.TLS.KeyFile}}
{{- end}}
disable_plaintext_auth = no
auth_mechanisms = plain login cram-md5{{if .Options.OAuth2}} xoauth2 oauthbearer{{end}}
# Tests try wrong passwords on purpose; do not make them wait.
auth_failure_delay = 0
# Nor with the penalty of seconds that doubles with each failure from an
# address (what auth cannot reach it does not apply).
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
auth_master_user_separator = *
default_login_user = dovenull
default_internal_user = dovecot
mail_uid = dovecot
mail_gid = dovecot
first_valid_uid = 1
mail_location = maildir:{{.Dir}}/mail/%u
mail_save_crlf = yes
mail_attribute_dict = file:%h/dovecot-attributes
mail_plugins = acl quota
namespace inbox {
  inbox = yes
  separator = /
  prefix =
}
namespace shared {
  type = shared
  separator = /
  prefix = shared/%%u/
  location = maildir:{{.Dir}}/mail/%%u:INDEXPVT={{.Dir}}/mail/%u/shared/%%u
  subscriptions = no
  list = children
}
passdb {
  driver = passwd-file
  master = yes
  args = scheme=PLAIN {{.Dir}}/masters
  pass = yes
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {{.Dir}}/passdb/%u
{{- if .Options.OAuth2}}
  mechanisms = plain login cram-md5
{{- end}}
}
{{- if .Options.OAuth2}}
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {{.Dir}}/oauth2.conf
}
{{- end}}
userdb {
  driver = passwd-file
  args = username_format=%u {{.Dir}}/userdb/%u
  default_fields = uid=dovecot gid=dovecot home={{.Dir}}/home/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = {{.Port}}
  }
{{- if .Options.NoTLS}}
  inet_listener imap2 {
    address = 127.0.0.1
    port = {{.TLSPort}}
  }
{{- else}}
  inet_listener imaps {
    address = 127.0.0.1
    port = {{.TLSPort}}
    ssl = yes
  }
{{- end}}
}
protocol imap {
  mail_plugins = $mail_plugins imap_acl imap_quota
  imap_metadata = yes
{{- if .Options.Capabilities}}
  imap_capability = {{.Options.Capabilities}}
{{- end}}
{{- if .Options.MaxUserIPConnections}}
  mail_max_userip_connections = {{.Options.MaxUserIPConnections}}
{{- end}}
}
{{- if .Options.RequireClientCert}}
ssl_ca = <{{.TLS.CAFile}}
ssl_verify_client_cert = yes
# The test CA publishes no CRL.
ssl_require_crl = no
auth_ssl_require_client_cert = yes
{{- end}}
plugin {
  acl = vfile
  # Under home/, which the mail processes (user dovecot) may write.
  acl_shared_dict = file:{{.Dir}}/home/shared-mailboxes.db
  quota = maildir:User quota
}
`))

// oauth2Conf is the oauth2 passdb's file: every token is checked with a
// POST of token=... to url, whose JSON answer names the user of an active
// token.
func oauth2Conf(url string) string {
	return "introspection_mode = post\n" +
		"introspection_url = " + url + "\n" +
		"force_introspection = yes\n" +
		"username_attribute = username\n" +
		"active_attribute = active\n" +
		"active_value = true\n"
}

type dovecot struct {
	dir     string
	conf    string
	options DovecotOptions
}

// DovecotOptions change a private Dovecot's configuration.
type DovecotOptions struct {
	// RequireClientCert: logins need a client certificate signed by the
	// test CA (see TLSFiles.ClientCert).
	RequireClientCert bool
	// NoTLS: no TLS at all, so no STARTTLS either; the "TLS" port then
	// speaks plaintext too.
	NoTLS bool
	// Capabilities, if set, replaces the capabilities Dovecot announces
	// after login (imap_capability; plugins add theirs), to play a server
	// that lacks, say, UIDPLUS or MOVE.
	Capabilities string
	// MaxUserIPConnections, if set, is how many IMAP sessions one account
	// may have from one address (mail_max_userip_connections; Dovecot's
	// default is 10); a login beyond it is refused.
	MaxUserIPConnections int
	// OAuth2, if set, lets accounts sign in with XOAUTH2 and OAUTHBEARER
	// too, with the tokens this endpoint says are active (Dovecot's
	// oauth2 passdb); passwords work as before.
	OAuth2 *TokenIntrospection
}

// StartDovecot starts a private Dovecot for this test alone; it is stopped
// when the test ends. Tests that only need an account should share the
// package's server through SharedDovecot.
func StartDovecot(t T) *Server {
	t.Helper()
	return StartDovecotWith(t, DovecotOptions{})
}

// StartDovecotWith starts a private Dovecot configured by opts.
func StartDovecotWith(t T, opts DovecotOptions) *Server {
	t.Helper()
	s, stop, err := startDovecot(t, opts)
	if stop != nil {
		t.Cleanup(stop)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func startDovecot(t T, opts DovecotOptions) (*Server, func(), error) {
	RequireRoot(t)
	RequireTool(t, "dovecot")
	RequireTool(t, "doveadm")
	dir, err := os.MkdirTemp("", "imapfs-dovecot-")
	if err != nil {
		return nil, nil, err
	}
	cleanDir := func() { os.RemoveAll(dir) }
	if err := prepareDovecotDir(dir); err != nil {
		return nil, cleanDir, err
	}
	tlsFiles, err := makeTLSFiles(dir)
	if err != nil {
		return nil, cleanDir, err
	}
	b := &dovecot{dir: dir, conf: filepath.Join(dir, "dovecot.conf"), options: opts}
	noTLS := opts.NoTLS
	s := &Server{
		Kind: "dovecot", Host: "127.0.0.1", TLS: tlsFiles, Delimiter: "/", Dir: dir,
		Alice: User{"alice", "alice-secret"}, Bob: User{"bob", "bob-secret"},
		Admin: User{"admin", "admin-secret"}, backend: b, noTLS: noTLS,
	}
	if opts.OAuth2 != nil {
		if err := os.WriteFile(filepath.Join(dir, "oauth2.conf"), []byte(oauth2Conf(opts.OAuth2.URL)), 0o644); err != nil {
			return nil, cleanDir, err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "masters"), []byte(s.Admin.Name+":{PLAIN}"+s.Admin.Password+"\n"), 0o644); err != nil {
		return nil, cleanDir, err
	}
	for _, u := range []User{s.Alice, s.Bob} {
		if err := b.addUser(u, DefaultQuota); err != nil {
			return nil, cleanDir, err
		}
	}
	// A port can be taken between choosing and binding it: retry a few times.
	for attempt := 1; ; attempt++ {
		err = s.startDovecotProcess(b)
		if err == nil || attempt == 3 {
			break
		}
	}
	stop := func() {
		if s.proc != nil {
			s.proc.stop(2 * time.Second)
		}
		cleanDir()
	}
	return s, stop, err
}

// prepareDovecotDir makes the folders Dovecot's unprivileged users need.
func prepareDovecotDir(dir string) error {
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	uid, gid, err := lookupUser("dovecot")
	if err != nil {
		return err
	}
	for _, sub := range []string{"mail", "home"} {
		p := filepath.Join(dir, sub)
		if err := os.Mkdir(p, 0o755); err != nil {
			return err
		}
		if err := os.Chown(p, uid, gid); err != nil {
			return err
		}
	}
	for _, sub := range []string{"passdb", "userdb"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) startDovecotProcess(b *dovecot) error {
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	s.Port, s.TLSPort = ports[0], ports[1]
	var conf bytes.Buffer
	err = dovecotConf.Execute(&conf, struct {
		*Server
		Options DovecotOptions
	}{s, b.options})
	if err != nil {
		return err
	}
	if err := os.WriteFile(b.conf, conf.Bytes(), 0o644); err != nil {
		return err
	}
	out := &syncBuffer{}
	cmd := exec.Command("dovecot", "-F", "-c", b.conf)
	cmd.Stdout, cmd.Stderr = out, out
	p, err := startProcess("dovecot", cmd)
	if err != nil {
		return err
	}
	if err := s.waitServer(p); err != nil {
		p.stop(time.Second)
		return fmt.Errorf("%v\n%s%s", err, out.String(), tail(b.logFile(), 2000))
	}
	s.proc = p
	return nil
}

func (b *dovecot) logFile() string { return filepath.Join(b.dir, "dovecot.log") }

// addUser writes the account's passdb and userdb files. Each account has
// files of its own because Dovecot rereads a changed passwd-file at most
// once a second, too late for a test that logs in right after.
func (b *dovecot) addUser(u User, q Quota) error {
	passdb := u.Name + ":{PLAIN}" + u.Password + "\n"
	if err := os.WriteFile(filepath.Join(b.dir, "passdb", u.Name), []byte(passdb), 0o644); err != nil {
		return err
	}
	// passwd-file fields: user:password:uid:gid:gecos:home:shell:extra, and
	// extra userdb fields take the userdb_ prefix even in a userdb file.
	userdb := fmt.Sprintf("%s:::::::userdb_quota_rule=*:storage=%dk:messages=%d\n", u.Name, q.StorageKiB, q.Messages)
	return os.WriteFile(filepath.Join(b.dir, "userdb", u.Name), []byte(userdb), 0o644)
}

// doveadm runs a doveadm command against this instance.
func (b *dovecot) doveadm(args ...string) ([]byte, error) {
	cmd := exec.Command("doveadm", append([]string{"-c", b.conf}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("doveadm %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

func (b *dovecot) messages(u User, mailbox string) ([]StoredMessage, error) {
	out, err := b.doveadm("-f", "json", "fetch", "-u", u.Name,
		"uid flags date.received.unixtime size.virtual", "mailbox", mailbox)
	if err != nil {
		return nil, err
	}
	var rows []map[string]string
	if err := json.Unmarshal(out, &rows); err != nil {
		return nil, fmt.Errorf("doveadm fetch output: %v", err)
	}
	msgs := make([]StoredMessage, 0, len(rows))
	for _, r := range rows {
		uid, err1 := strconv.ParseUint(r["uid"], 10, 32)
		date, err2 := strconv.ParseInt(r["date.received.unixtime"], 10, 64)
		size, err3 := strconv.ParseInt(r["size.virtual"], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("doveadm fetch row %v", r)
		}
		msgs = append(msgs, StoredMessage{
			UID: uint32(uid), Size: size, InternalDate: time.Unix(date, 0),
			Flags: strings.Fields(r["flags"]),
		})
	}
	return msgs, nil
}

func (b *dovecot) body(u User, mailbox string, uid uint32) ([]byte, error) {
	out, err := b.doveadm("fetch", "-u", u.Name, "text", "mailbox", mailbox, "uid", strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return nil, err
	}
	body, ok := bytes.CutPrefix(out, []byte("text:\n"))
	if !ok {
		return nil, fmt.Errorf("no message with UID %d", uid)
	}
	return body, nil
}

// Bodies returns the exact bytes of every message of u's mailbox, by UID,
// read with one doveadm command (Dovecot only; the bodies must be UTF-8).
func (s *Server) Bodies(t T, u User, mailbox string) map[uint32][]byte {
	t.Helper()
	b, ok := s.backend.(*dovecot)
	if !ok {
		t.Fatalf("Bodies on a %s server", s.Kind)
	}
	out, err := b.doveadm("-f", "json", "fetch", "-u", u.Name, "uid text", "mailbox", mailbox)
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]string
	if err := json.Unmarshal(out, &rows); err != nil {
		t.Fatalf("doveadm fetch output: %v", err)
	}
	bodies := make(map[uint32][]byte, len(rows))
	for _, r := range rows {
		uid, err := strconv.ParseUint(r["uid"], 10, 32)
		if err != nil {
			t.Fatalf("doveadm fetch row %v", r)
		}
		bodies[uint32(uid)] = []byte(r["text"])
	}
	return bodies
}

// Doveadm runs doveadm against a Dovecot test server and returns its output.
func (s *Server) Doveadm(t T, args ...string) string {
	t.Helper()
	b, ok := s.backend.(*dovecot)
	if !ok {
		t.Fatalf("Doveadm on a %s server", s.Kind)
	}
	out, err := b.doveadm(args...)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func lookupUser(name string) (uid, gid int, err error) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, err
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid, nil
}

// TunnelCommand is a shell command that speaks IMAP on its standard input
// and output, pre-authenticated as u, the way "ssh host
// /usr/lib/dovecot/imap" does (Dovecot only).
func (s *Server) TunnelCommand(t T, u User) string {
	t.Helper()
	b, ok := s.backend.(*dovecot)
	if !ok {
		t.Fatalf("TunnelCommand on a %s server", s.Kind)
	}
	return "exec doveadm -c " + b.conf + " exec imap -u " + u.Name
}
