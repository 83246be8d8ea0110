package fs_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"imapfs/test"
)

// cacheFiles lists the block files of a --cache-dir, and their bytes.
func cacheFiles(t *testing.T, dir string) (files []string, total int64) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && !strings.HasPrefix(e.Name(), ".tmp-") {
			files = append(files, p)
			if info, err := e.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	return files, total
}

// readAll reads every message of a mailbox through the mount and checks
// the bytes against the server's.
func readAll(t *testing.T, m *test.Mounted, s *test.Server, u test.User, mailbox string) {
	t.Helper()
	for _, msg := range s.Messages(t, u, mailbox) {
		got, err := os.ReadFile(filepath.Join(mailboxDir(m, s, mailbox), fmt.Sprintf("%d.eml", msg.UID)))
		if err != nil {
			t.Fatal(err)
		}
		if want := s.Body(t, u, mailbox, msg.UID); !bytes.Equal(got, want) {
			t.Errorf("%s/%d.eml: %d bytes differ from the server's %d", mailbox, msg.UID, len(got), len(want))
		}
	}
}

// --cache-dir keeps bodies across mounts: a second mount reads them from
// disk and fetches none; rm drops a message's cached copy; a mailbox
// deleted and created again (a new UIDVALIDITY, the same UIDs) is never
// served from the old copies; damaged copies are noticed and fetched again.
func TestDiskCache(t *testing.T) {
	test.EachServer(t, func(t *testing.T, s *test.Server) {
		u := s.NewUser(t)
		cacheDir := t.TempDir()
		box := s.Personal("Archiv")
		s.CreateMailbox(t, u, box)
		seedSome(t, s, u, "INBOX", 6)
		seedSome(t, s, u, box, 2)

		m := test.Mount(t, s, u, "--cache-dir", cacheDir)
		run(t, "grep", "-r", "-q", "body", m.Dir+"/")
		readAll(t, m, s, u, "INBOX")
		readAll(t, m, s, u, box)
		first := unmountStats(t, m)
		if first["body_fetches"] == "0" {
			t.Fatalf("the first mount fetched nothing: %v", first)
		}
		if files, _ := cacheFiles(t, cacheDir); len(files) != 8 {
			t.Fatalf("%d files in the cache, want 8: %v", len(files), files)
		}

		m = test.Mount(t, s, u, "--cache-dir", cacheDir)
		readAll(t, m, s, u, "INBOX")
		readAll(t, m, s, u, box)
		inbox := s.Messages(t, u, "INBOX")
		run(t, "rm", filepath.Join(mailboxDir(m, s, "INBOX"), fmt.Sprintf("%d.eml", inbox[0].UID)))
		second := unmountStats(t, m)
		if second["body_fetches"] != "0" || second["disk_hits"] != "8" {
			t.Errorf("the second mount: %s body fetches and %s disk hits, want 0 and 8", second["body_fetches"], second["disk_hits"])
		}
		if files, _ := cacheFiles(t, cacheDir); len(files) != 7 {
			t.Errorf("after rm: %d files in the cache, want 7", len(files))
		}

		// The same UIDs in a new mailbox of the same name.
		raw := s.Session(t, u)
		for _, cmd := range []string{"DELETE " + strconv.Quote(box), "CREATE " + strconv.Quote(box)} {
			if _, _, err := raw.Run(cmd); err != nil {
				t.Fatal(err)
			}
		}
		s.Seed(t, u, box,
			test.Message{Body: []byte("Subject: new 0\r\n\r\nnew body 0\r\n"), Date: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)},
			test.Message{Body: []byte("Subject: new 1\r\n\r\nnew body 1 " + strings.Repeat("y", 1000) + "\r\n"), Date: time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC)})

		// And new mail in INBOX beside the cached: a walk reads the ones
		// from disk and fetches the others.
		seedSome(t, s, u, "INBOX", 3)

		m = test.Mount(t, s, u, "--cache-dir", cacheDir)
		readAll(t, m, s, u, box)
		run(t, "grep", "-r", "-c", "body", mailboxDir(m, s, "INBOX"))
		readAll(t, m, s, u, "INBOX")
		third := unmountStats(t, m)
		if third["disk_hits"] != "5" || third["body_fetches"] != "5" {
			t.Errorf("the third mount: %s disk hits and %s body fetches, want 5 (INBOX's cached) and 5 (INBOX's new, the new mailbox's)", third["disk_hits"], third["body_fetches"])
		}
		if files, _ := cacheFiles(t, cacheDir); len(files) != 10 {
			t.Errorf("%d files in the cache, want 10: the old mailbox's copies gone, the new ones kept", len(files))
		}

		// Damaged copies are noticed, dropped and fetched again.
		files, _ := cacheFiles(t, cacheDir)
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			data[len(data)-3] ^= 0x20
			if err := os.WriteFile(f, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		m = test.Mount(t, s, u, "--cache-dir", cacheDir)
		readAll(t, m, s, u, box)
		readAll(t, m, s, u, "INBOX")
		if !strings.Contains(m.Log(), "damaged") {
			t.Errorf("no damaged block in the log:\n%s", m.Log())
		}
		fourth := unmountStats(t, m)
		if fourth["disk_hits"] != "0" || fourth["body_fetches"] != "10" {
			t.Errorf("the fourth mount: %s disk hits and %s body fetches, want 0 and 10", fourth["disk_hits"], fourth["body_fetches"])
		}
	})
}

// --cache-dir-size bounds the disk cache.
func TestDiskCacheBound(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	seedSome(t, s, u, "INBOX", 20) // 0 to 19 KB of padding each, 190 KB in all
	cacheDir := t.TempDir()
	m := test.Mount(t, s, u, "--cache-dir", cacheDir, "--cache-dir-size", "64K")
	readAll(t, m, s, u, "INBOX")
	m.Unmount(t)
	files, total := cacheFiles(t, cacheDir)
	if total > 64<<10 || len(files) == 0 {
		t.Errorf("the cache holds %d bytes in %d files, bound 64 KiB", total, len(files))
	}
}

// A disk cache on a full filesystem costs nothing but the caching: reads
// still return the server's bytes, and the log says why nothing is kept.
func TestDiskCacheOnFullDisk(t *testing.T) {
	s := test.SharedDovecot(t)
	u := s.NewUser(t)
	seedSome(t, s, u, "INBOX", 20)
	cacheDir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=32k,mode=0700", "tmpfs", cacheDir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", cacheDir).Run() })
	m := test.Mount(t, s, u, "--cache-dir", cacheDir)
	readAll(t, m, s, u, "INBOX")
	m.Unmount(t)
	if !strings.Contains(m.Log(), "cannot write blocks") || !strings.Contains(m.Log(), "no space") {
		t.Errorf("no word of the full disk in the log:\n%s", m.Log())
	}
}
