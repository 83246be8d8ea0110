package test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/template"
	"time"
)

// CyrusRoot is where test/setup unpacks Cyrus IMAP (it conflicts with
// Dovecot as an installed package).
func CyrusRoot() string {
	if d := os.Getenv("IMAPFS_TEST_CYRUS"); d != "" {
		return d
	}
	return "/var/cache/imapfs-test/cyrus"
}

// cyrusServername is also the SASL realm of the private sasldb's users.
const cyrusServername = "imapfs-test"

var imapdConf = template.Must(template.New("imapd.conf").Parse(`configdirectory: {{.Dir}}/config
defaultpartition: default
partition-default: {{.Dir}}/spool
servername: ` + cyrusServername + `
admins: {{.Admin.Name}}
allowplaintext: yes
failedloginpause: 0
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: {{.Dir}}/sasldb2
sasl_mech_list: PLAIN LOGIN
unixhierarchysep: no
altnamespace: no
annotation_allow_undefined: yes
{{- if not .Options.NoTLS}}
tls_server_cert: {{.TLS.CertFile}}
tls_server_key: {{.TLS.KeyFile}}
tls_server_ca_file: {{.TLS.CAFile}}
{{- end}}
syslog_prefix: imapfs-test-cyrus
{{- if .Options.LegacyAnnotations}}
annotation_enable_legacy_commands: yes
{{- end}}
{{- if .Options.SuppressCapabilities}}
suppress_capabilities: {{.Options.SuppressCapabilities}}
{{- end}}
`))

// Children do not inherit the master's -C: every command names the config.
var cyrusConf = template.Must(template.New("cyrus.conf").Parse(`START {
  recover cmd="{{.Bin}}/ctl_cyrusdb -C {{.Conf}} -r"
}
SERVICES {
  imap cmd="{{.Bin}}/imapd -C {{.Conf}}" listen="127.0.0.1:{{.Port}}" prefork=0
  imaps cmd="{{.Bin}}/imapd -C {{.Conf}}{{if not .NoTLS}} -s{{end}}" listen="127.0.0.1:{{.TLSPort}}" prefork=0
}
EVENTS {
}
DAEMON {
}
`))

type cyrus struct {
	server *Server
	root   string // the unpacked packages
	dir    string
	conf   string // imapd.conf
	uid    int    // the cyrus user, which owns the instance
	gid    int
	mu     sync.Mutex // serialises sasldb edits
	opts   CyrusOptions
}

// CyrusOptions change a private Cyrus's configuration.
type CyrusOptions struct {
	// LegacyAnnotations turns on GETANNOTATION and SETANNOTATION
	// (ANNOTATEMORE, the predecessor of METADATA).
	LegacyAnnotations bool
	// SuppressCapabilities names capabilities Cyrus keeps out of its
	// CAPABILITY answers, to play a server without, say, METADATA or
	// QUOTA. Cyrus still runs the commands if asked.
	SuppressCapabilities string
	// NoTLS: no TLS at all, so no STARTTLS either; the "TLS" port then
	// speaks plaintext too.
	NoTLS bool
}

// StartCyrus starts a private Cyrus IMAP for this test alone; it is stopped
// when the test ends. Tests that only need an account should share the
// package's server through SharedCyrus.
func StartCyrus(t T) *Server {
	t.Helper()
	return StartCyrusWith(t, CyrusOptions{})
}

// StartCyrusWith starts a private Cyrus configured by opts.
func StartCyrusWith(t T, opts CyrusOptions) *Server {
	t.Helper()
	s, stop, err := startCyrus(t, opts)
	if stop != nil {
		t.Cleanup(stop)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func startCyrus(t T, opts CyrusOptions) (*Server, func(), error) {
	RequireRoot(t)
	RequireTool(t, "saslpasswd2")
	root := CyrusRoot()
	if _, err := os.Stat(filepath.Join(root, "usr/lib/cyrus/bin/master")); err != nil {
		Unavailable(t, "Cyrus IMAP is not unpacked in %s", root)
	}
	uid, gid, err := lookupUser("cyrus")
	if err != nil {
		Unavailable(t, "no cyrus user: %v", err)
	}
	dir, err := os.MkdirTemp("", "imapfs-cyrus-")
	if err != nil {
		return nil, nil, err
	}
	cleanDir := func() { os.RemoveAll(dir) }
	b := &cyrus{root: root, dir: dir, conf: filepath.Join(dir, "imapd.conf"), uid: uid, gid: gid, opts: opts}
	s := &Server{
		Kind: "cyrus", Host: "127.0.0.1", Delimiter: ".", Dir: dir,
		Alice: User{"alice", "alice-secret"}, Bob: User{"bob", "bob-secret"},
		Admin: User{"admin", "admin-secret"}, backend: b, noTLS: opts.NoTLS,
	}
	b.server = s
	if s.TLS, err = makeTLSFiles(dir); err != nil {
		return nil, cleanDir, err
	}
	// imapd binds its IDLE socket in config/socket whatever idlesocket says.
	for _, sub := range []string{"config", "config/socket", "spool"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, cleanDir, err
		}
	}
	if err := b.saslpasswd(s.Admin); err != nil {
		return nil, cleanDir, err
	}
	if err := chownTree(dir, uid, gid); err != nil {
		return nil, cleanDir, err
	}
	for attempt := 1; ; attempt++ {
		err = s.startCyrusProcess(b)
		if err == nil || attempt == 3 {
			break
		}
	}
	stop := func() {
		if s.proc != nil {
			s.proc.stop(100 * time.Millisecond)
		}
		cleanDir()
	}
	if err != nil {
		return s, stop, err
	}
	for _, u := range []User{s.Alice, s.Bob} {
		if err := b.addUser(u, DefaultQuota); err != nil {
			return s, stop, err
		}
	}
	return s, stop, nil
}

func (s *Server) startCyrusProcess(b *cyrus) error {
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	s.Port, s.TLSPort = ports[0], ports[1]
	var imapd, master bytes.Buffer
	conf := struct {
		*Server
		Options CyrusOptions
	}{s, b.opts}
	if err := imapdConf.Execute(&imapd, conf); err != nil {
		return err
	}
	err = cyrusConf.Execute(&master, map[string]any{
		"Bin": b.bin(), "Conf": b.conf, "Port": s.Port, "TLSPort": s.TLSPort, "NoTLS": b.opts.NoTLS,
	})
	if err != nil {
		return err
	}
	masterConf := filepath.Join(b.dir, "cyrus.conf")
	if err := os.WriteFile(b.conf, imapd.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(masterConf, master.Bytes(), 0o644); err != nil {
		return err
	}
	out := &syncBuffer{}
	// The master must start as root; it drops to the cyrus user. There is no
	// syslog here, hence -L; -D keeps its own output on ours.
	cmd := exec.Command(filepath.Join(b.bin(), "master"), "-C", b.conf, "-M", masterConf,
		"-L", b.logFile(), "-p", filepath.Join(b.dir, "master.pid"), "-D")
	cmd.Env = b.env()
	cmd.Stdout, cmd.Stderr = out, out
	p, err := startProcess("cyrus master", cmd)
	if err != nil {
		return err
	}
	if err := s.waitServer(p); err != nil {
		p.stop(100 * time.Millisecond)
		// Exit status 78 is a configuration error, which the master does not explain.
		return fmt.Errorf("%v\n%s%s", err, out.String(), tail(b.logFile(), 2000))
	}
	s.proc = p
	return nil
}

func (b *cyrus) bin() string     { return filepath.Join(b.root, "usr/lib/cyrus/bin") }
func (b *cyrus) logFile() string { return filepath.Join(b.dir, "master.log") }

// env is the environment of the unpacked binaries, which need their own
// shared libraries.
func (b *cyrus) env() []string {
	return append(os.Environ(), "LD_LIBRARY_PATH="+filepath.Join(b.root, "usr/lib/x86_64-linux-gnu"))
}

// saslpasswd sets u's password in the private sasldb. Its users' realm must
// equal servername.
func (b *cyrus) saslpasswd(u User) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	db := filepath.Join(b.dir, "sasldb2")
	cmd := exec.Command("saslpasswd2", "-p", "-c", "-f", db, "-u", cyrusServername, u.Name)
	cmd.Stdin = strings.NewReader(u.Password)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("saslpasswd2: %v: %s", err, out)
	}
	if err := os.Chown(db, b.uid, b.gid); err != nil {
		return err
	}
	return os.Chmod(db, 0o640)
}

// addUser creates the account's password and its INBOX (user.NAME), with
// its quota, as the admin.
func (b *cyrus) addUser(u User, q Quota) error {
	if err := b.saslpasswd(u); err != nil {
		return err
	}
	c, err := b.server.session(b.server.Admin)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, _, err := c.Run("CREATE " + quote("user."+u.Name)); err != nil {
		return err
	}
	_, _, err = c.Run(fmt.Sprintf("SETQUOTA %s (STORAGE %d MESSAGE %d)", quote("user."+u.Name), q.StorageKiB, q.Messages))
	return err
}

// tool runs one of Cyrus's own command-line tools as the cyrus user.
func (b *cyrus) tool(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(b.bin(), name), append([]string{"-C", b.conf}, args...)...)
	cmd.Env = b.env()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(b.uid), Gid: uint32(b.gid)}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// internalName maps u's mailbox name as IMAP shows it (INBOX, INBOX.Sub) to
// Cyrus's internal name (user.u, user.u.Sub).
func internalName(u User, mailbox string) string {
	rest, _ := strings.CutPrefix(mailbox, "INBOX")
	return "user." + u.Name + encodeMUTF7(rest)
}

var (
	mbexRecord    = regexp.MustCompile(`UID:(\d+)\s+INT_DATE:(\d+)\s.*SIZE:(\d+)`)
	mbexUserFlags = regexp.MustCompile(`^\s*User Flags: (.*)$`)
	cyrusSysFlags = map[string]string{
		"FLAG_ANSWERED": `\Answered`, "FLAG_FLAGGED": `\Flagged`, "FLAG_DELETED": `\Deleted`,
		"FLAG_DRAFT": `\Draft`, "FLAG_SEEN": `\Seen`,
	}
)

// messages parses mbexamine's dump of the mailbox index. Records Cyrus keeps
// after an expunge (delayed expunge) are left out, as IMAP does.
func (b *cyrus) messages(u User, mailbox string) ([]StoredMessage, error) {
	out, err := b.tool("mbexamine", internalName(u, mailbox))
	if err != nil {
		return nil, err
	}
	var keywords []string
	var msgs []StoredMessage
	expunged := false
	keep := func() {
		if len(msgs) > 0 && expunged {
			msgs = msgs[:len(msgs)-1]
		}
		expunged = false
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := mbexUserFlags.FindStringSubmatch(line); m != nil {
			keywords = strings.Fields(m[1])
		}
		if m := mbexRecord.FindStringSubmatch(line); m != nil {
			keep()
			uid, _ := strconv.ParseUint(m[1], 10, 32)
			date, _ := strconv.ParseInt(m[2], 10, 64)
			size, _ := strconv.ParseInt(m[3], 10, 64)
			msgs = append(msgs, StoredMessage{UID: uint32(uid), InternalDate: time.Unix(date, 0), Size: size})
			continue
		}
		if len(msgs) == 0 {
			continue
		}
		cur := &msgs[len(msgs)-1]
		if _, internal, ok := strings.Cut(line, "INTERNALFLAGS:"); ok {
			internal, _, _ = strings.Cut(internal, "SYSTEMFLAGS:")
			expunged = strings.Contains(internal, "EXPUNGED")
		}
		if _, f, ok := strings.Cut(line, "SYSTEMFLAGS:"); ok {
			for _, name := range strings.Fields(f) {
				if flag, ok := cyrusSysFlags[name]; ok {
					cur.Flags = append(cur.Flags, flag)
				}
			}
		}
		if _, f, ok := strings.Cut(line, "USERFLAGS:"); ok {
			// Words are printed most significant first; bit i of the whole
			// is keyword i of the mailbox header.
			words := strings.Fields(f)
			for w := range words {
				v, err := strconv.ParseUint(words[len(words)-1-w], 16, 32)
				if err != nil {
					return nil, fmt.Errorf("mbexamine USERFLAGS %q", f)
				}
				for bit := 0; bit < 32; bit++ {
					if v&(1<<bit) != 0 && w*32+bit < len(keywords) {
						cur.Flags = append(cur.Flags, keywords[w*32+bit])
					}
				}
			}
		}
	}
	keep()
	return msgs, sc.Err()
}

// body reads the message file Cyrus keeps in the mailbox's folder.
func (b *cyrus) body(u User, mailbox string, uid uint32) ([]byte, error) {
	out, err := b.tool("mbpath", internalName(u, mailbox))
	if err != nil {
		return nil, err
	}
	return os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), fmt.Sprintf("%d.", uid)))
}

func chownTree(dir string, uid, gid int) error {
	return filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
}
