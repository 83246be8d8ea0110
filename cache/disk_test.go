package cache

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// diskFiles lists the block files under dir.
func diskFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	return files
}

// reopen closes d (writing what it queued) and opens the same cache again.
func reopen(t *testing.T, d *Disk, dir string, max int64) *Disk {
	t.Helper()
	d.Close()
	d, err := OpenDisk(dir, "alice@example.com", max, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

func TestDiskKeepsBlocksAcrossOpens(t *testing.T) {
	dir := t.TempDir()
	d := reopen(t, nil, dir, 1<<20)
	k := BodyKey{Mailbox: "INBOX/../../etc", UIDValidity: 7, UID: 42}
	body := []byte("Subject: hi\r\n\r\nhello\r\n")
	d.Add(k, body)
	d = reopen(t, d, dir, 1<<20)
	got, ok := d.Get(k)
	if !ok || !bytes.Equal(got, body) {
		t.Fatalf("Get = %q, %v", got, ok)
	}
	if !d.Has(k) || d.Has(BodyKey{Mailbox: k.Mailbox, UIDValidity: 8, UID: 42}) {
		t.Error("Has is wrong about another UIDVALIDITY")
	}
	for _, f := range diskFiles(t, dir) {
		if strings.Contains(f, "etc") || strings.Contains(f, "INBOX") {
			t.Errorf("a name from the server became a path: %s", f)
		}
		if info, _ := os.Stat(f); info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v", f, info.Mode())
		}
	}
	if info, _ := os.Stat(filepath.Join(dir, hashName("alice@example.com"))); info.Mode().Perm() != 0o700 {
		t.Errorf("the account's directory has mode %v", info.Mode())
	}
}

func TestDiskDropsDamagedBlocks(t *testing.T) {
	dir := t.TempDir()
	d := reopen(t, nil, dir, 1<<20)
	k := BodyKey{Mailbox: "INBOX", UIDValidity: 1, UID: 1}
	d.Add(k, []byte("the real bytes"))
	d = reopen(t, d, dir, 1<<20)
	files := diskFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	raw, _ := os.ReadFile(files[0])
	raw[len(raw)-1] ^= 0xff
	os.WriteFile(files[0], raw, 0o600)
	if got, ok := d.Get(k); ok {
		t.Fatalf("a damaged block was served: %q", got)
	}
	if len(diskFiles(t, dir)) != 0 {
		t.Error("the damaged block was kept")
	}
}

func TestDiskRemovals(t *testing.T) {
	dir := t.TempDir()
	d := reopen(t, nil, dir, 1<<20)
	for _, k := range []BodyKey{
		{Mailbox: "A", UIDValidity: 1, UID: 1}, {Mailbox: "A", UIDValidity: 1, UID: 1, Block: 1},
		{Mailbox: "A", UIDValidity: 1, UID: 2}, {Mailbox: "A", UIDValidity: 1, UID: 3},
		{Mailbox: "A", UIDValidity: 9, UID: 1}, {Mailbox: "B", UIDValidity: 1, UID: 1},
	} {
		d.Add(k, []byte("x"))
	}
	d = reopen(t, d, dir, 1<<20)
	d.RemoveMessage("A", 1, 1, 1)
	if d.Has(BodyKey{Mailbox: "A", UIDValidity: 1, UID: 1}) || d.Has(BodyKey{Mailbox: "A", UIDValidity: 1, UID: 1, Block: 1}) {
		t.Error("RemoveMessage left a block")
	}
	// Another mount's block being written is no block of a message.
	tmp := filepath.Join(filepath.Dir(d.path(BodyKey{Mailbox: "A", UIDValidity: 1, UID: 3})), ".tmp-123")
	if err := os.WriteFile(tmp, []byte("half written"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.KeepOnly("A", 1, []uint32{3})
	if _, err := os.Stat(tmp); err != nil {
		t.Errorf("KeepOnly removed a block being written: %v", err)
	}
	os.Remove(tmp)
	if d.Has(BodyKey{Mailbox: "A", UIDValidity: 1, UID: 2}) || d.Has(BodyKey{Mailbox: "A", UIDValidity: 9, UID: 1}) ||
		!d.Has(BodyKey{Mailbox: "A", UIDValidity: 1, UID: 3}) {
		t.Error("KeepOnly kept the wrong blocks")
	}
	d.RemoveMailbox("A", 0)
	if len(diskFiles(t, dir)) != 1 || !d.Has(BodyKey{Mailbox: "B", UIDValidity: 1, UID: 1}) {
		t.Errorf("after removing A: %v", diskFiles(t, dir))
	}
	if used := d.Used(); used != diskHeader+1 {
		t.Errorf("used %d bytes, want %d", used, diskHeader+1)
	}
}

func TestDiskStaysWithinItsBound(t *testing.T) {
	dir := t.TempDir()
	const max = 10 * (diskHeader + 1000)
	block := bytes.Repeat([]byte("m"), 1000)
	key := func(uid uint32) BodyKey { return BodyKey{Mailbox: "INBOX", UIDValidity: 1, UID: uid} }
	d := reopen(t, nil, dir, max)
	for uid := uint32(1); uid <= 10; uid++ {
		d.Add(key(uid), block)
	}
	d = reopen(t, d, dir, max)
	// Written two hours ago, in UID order; then block 1 is read, which
	// makes it the most recently used.
	for uid := uint32(1); uid <= 10; uid++ {
		when := time.Now().Add(-2*time.Hour + time.Duration(uid)*time.Second)
		if err := os.Chtimes(d.path(key(uid)), when, when); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := d.Get(key(1)); !ok {
		t.Fatal("block 1 missing")
	}
	d.Add(key(11), block)
	d.Add(key(12), block)
	d = reopen(t, d, dir, max)
	var total int64
	for _, f := range diskFiles(t, dir) {
		info, _ := os.Stat(f)
		total += info.Size()
	}
	if total > max || total < max/2 {
		t.Errorf("the cache holds %d bytes, bound %d", total, max)
	}
	if !d.Has(key(1)) || d.Has(key(2)) || !d.Has(key(12)) {
		t.Error("eviction did not remove the least recently used first")
	}
}

// Two mounts sharing the directory keep it within the bound together.
func TestSharedDiskStaysWithinItsBound(t *testing.T) {
	dir := t.TempDir()
	const max = 10 * (diskHeader + 1000)
	block := bytes.Repeat([]byte("m"), 1000)
	a, b := reopen(t, nil, dir, max), reopen(t, nil, dir, max)
	for uid := uint32(1); uid <= 8; uid++ {
		a.Add(BodyKey{Mailbox: "INBOX", UIDValidity: 1, UID: uid}, block)
		b.Add(BodyKey{Mailbox: "Other", UIDValidity: 1, UID: uid}, block)
	}
	a.Close()
	b.Close()
	var total int64
	for _, f := range diskFiles(t, dir) {
		info, _ := os.Stat(f)
		total += info.Size()
	}
	if total > max {
		t.Errorf("two mounts left %d bytes, bound %d", total, max)
	}
}

// A block larger than the whole bound is not written.
func TestDiskSkipsWhatCannotFit(t *testing.T) {
	dir := t.TempDir()
	d := reopen(t, nil, dir, 100)
	d.Add(BodyKey{Mailbox: "INBOX", UIDValidity: 1, UID: 1}, bytes.Repeat([]byte("m"), 200))
	d.Close()
	if files := diskFiles(t, dir); len(files) != 0 {
		t.Errorf("files %v", files)
	}
}

func TestNoDisk(t *testing.T) {
	var d *Disk
	k := BodyKey{Mailbox: "INBOX", UIDValidity: 1, UID: 1}
	d.Add(k, []byte("x"))
	if _, ok := d.Get(k); ok || d.Has(k) {
		t.Error("a nil Disk holds something")
	}
	d.RemoveMessage("INBOX", 1, 1, 1)
	d.KeepOnly("INBOX", 1, nil)
	d.RemoveMailbox("INBOX", 0)
	d.Close()
}
