package fs_test

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"imapfs/test"
)

func getfattr(t *testing.T, name, path string) string {
	t.Helper()
	return run(t, "getfattr", "--absolute-names", "--only-values", "-n", name, path)
}

// df shows the account's quota; the root tells capabilities and
// namespaces; a mailbox its STATUS, as the server itself counts.
func TestQuotaAndStatusAttributes(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUserWithQuota(t, test.Quota{StorageKiB: 20480, Messages: 500})
		uids := seedSome(t, s, u, "INBOX", 3)
		c := s.Session(t, u)
		c.Run("SELECT INBOX")
		c.Run(fmt.Sprintf("UID STORE %d +FLAGS.SILENT (\\Seen)", uids[0]))
		m := test.Mount(t, s, u)

		fields := strings.Fields(strings.Split(run(t, "df", "-k", "--output=size,used,avail,itotal,iused", m.Dir), "\n")[1])
		if fields[0] != "20480" || fields[3] != "500" || fields[4] != "3" {
			t.Errorf("df: %v, want size 20480 KiB and 500 files of which 3 used", fields)
		}
		if used, _ := strconv.Atoi(fields[1]); used < 1 || used > 20 {
			t.Errorf("df used %s KiB for 3 small messages", fields[1])
		}

		if caps := getfattr(t, "user.imap.capability", m.Dir); !strings.Contains(caps, "IMAP4REV1") || !strings.Contains(caps, "QUOTA") {
			t.Errorf("capability: %q", caps)
		}
		ns := getfattr(t, "user.imap.namespace", m.Dir)
		wantNS := `personal "" "/"`
		if s.Kind == "cyrus" {
			wantNS = `personal "INBOX." "."`
		}
		if !strings.Contains(ns, wantNS) {
			t.Errorf("namespace %q lacks %q", ns, wantNS)
		}

		inbox := mailboxDir(m, s, "INBOX")
		stored := s.Messages(t, u, "INBOX")
		for name, want := range map[string]string{
			"user.imap.messages": "3",
			"user.imap.unseen":   "2",
			"user.imap.uidnext":  strconv.Itoa(int(stored[2].UID) + 1),
		} {
			if got := getfattr(t, name, inbox); got != want {
				t.Errorf("%s = %q, want %q", name, got, want)
			}
		}
		if v := getfattr(t, "user.imap.uidvalidity", inbox); v == "" || v == "0" {
			t.Errorf("uidvalidity %q", v)
		}
		out, err := exec.Command("getfattr", "--absolute-names", "-d", inbox).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "user.imap.messages=\"3\"") {
			t.Errorf("getfattr -d: %v %s", err, out)
		}
		if out, err := exec.Command("getfattr", "-n", "user.imap.nothing", inbox).CombinedOutput(); err == nil || !strings.Contains(string(out), "No such attribute") {
			t.Errorf("an unknown attribute: %v %s", err, out)
		}
	})
}
