package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Disk is the optional disk cache of body blocks (--cache-dir), under the
// memory cache: it keeps bodies across mounts, so a second grep or backup
// after a remount fetches nothing. A block is immutable for as long as its
// mailbox keeps its UIDVALIDITY, so nothing in it is ever refreshed, only
// removed: with its message (rm, mv, an expunge seen in a listing), its
// mailbox (rmdir, mv), a UIDVALIDITY change, or to stay within the size
// bound, oldest use first.
//
// Layout, all private to the user (directories 0700, files 0600):
//
//	DIR/<account>/<mailbox>/<uidvalidity>/<uid>.<block>
//
// where <account> and <mailbox> are hashes of the account (user, host,
// port) and of the mailbox name, so no name from the server becomes a
// path. Each file is a magic, a CRC-32C of the data, and the data; one
// that does not check out is removed and fetched again. Files are written
// under a temporary name and renamed, so two mounts of one account may
// share the directory.
type Disk struct {
	root string       // DIR/<account>
	max  atomic.Int64 // the bound; lowered when the disk fills up first
	log  *slog.Logger

	used    atomic.Int64  // bytes of block files, as far as known
	counted chan struct{} // closed when the startup count of used is done
	evictMu sync.Mutex    // one eviction at a time
	// written counts the bytes this mount wrote since the directory was
	// last walked: other mounts sharing it write too, so it is walked
	// again after every tenth of the bound.
	written atomic.Int64

	mu     sync.RWMutex // guards closed, so that nothing is queued after Close
	closed bool
	writes chan diskWrite
	queued atomic.Int64 // bytes waiting in writes
	done   chan struct{}
}

type diskWrite struct {
	key  BodyKey
	data []byte
}

var (
	diskMagic  = []byte("IFB1")
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

const (
	diskHeader = 8 // magic and CRC
	// diskQueue and diskQueueBytes bound the blocks waiting to be
	// written, which memory holds; beyond them a block is not written (it
	// is fetched again next time).
	diskQueue      = 512
	diskQueueBytes = 32 << 20
	// evictTo is the share of the bound an eviction brings the cache down
	// to, so that it does not run again on the next write.
	evictTo = 0.9
)

// OpenDisk opens (creating it) the disk cache of an account in dir,
// bounded to maxBytes.
func OpenDisk(dir, account string, maxBytes int64, log *slog.Logger) (*Disk, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	root := filepath.Join(dir, hashName(account))
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	d := &Disk{root: root, log: log, counted: make(chan struct{}),
		writes: make(chan diskWrite, diskQueue), done: make(chan struct{})}
	d.max.Store(maxBytes)
	go d.count()
	go d.writer()
	return d, nil
}

// A nil *Disk is no disk cache: it holds nothing and keeps nothing.

// Close writes what is queued and stops the writer; later blocks are not
// kept.
func (d *Disk) Close() {
	if d == nil {
		return
	}
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		close(d.writes)
	}
	d.mu.Unlock()
	<-d.done
}

// isTemp tells a block being written (by this mount or another).
func isTemp(name string) bool { return strings.HasPrefix(name, ".tmp-") }

// hashName turns a name into a directory name that no name can abuse.
func hashName(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:16])
}

func (d *Disk) mailboxDir(mailbox string) string {
	return filepath.Join(d.root, hashName(mailbox))
}

func (d *Disk) path(k BodyKey) string {
	return filepath.Join(d.mailboxDir(k.Mailbox), strconv.FormatUint(uint64(k.UIDValidity), 10),
		strconv.FormatUint(uint64(k.UID), 10)+"."+strconv.FormatUint(uint64(k.Block), 10))
}

// Has reports whether a block is on disk, without reading it.
func (d *Disk) Has(k BodyKey) bool {
	if d == nil {
		return false
	}
	_, err := os.Stat(d.path(k))
	return err == nil
}

// Get reads a block; false when it is not there or does not check out.
func (d *Disk) Get(k BodyKey) ([]byte, bool) {
	if d == nil {
		return nil, false
	}
	p := d.path(k)
	raw, used, err := readBlockFile(p)
	if err != nil && !errors.Is(err, errOversized) {
		if !errors.Is(err, fs.ErrNotExist) {
			d.log.Warn("disk cache: cannot read a block", "err", err)
		}
		return nil, false
	}
	if err != nil || len(raw) < diskHeader || !bytes.Equal(raw[:4], diskMagic) ||
		binary.BigEndian.Uint32(raw[4:8]) != crc32.Checksum(raw[diskHeader:], castagnoli) {
		d.log.Warn("disk cache: a damaged block was removed", "file", p)
		d.removeFile(p)
		return nil, false
	}
	// The modification time is the last use: eviction removes the oldest.
	// An hour is precise enough, and spares a metadata write on every read.
	if now := time.Now(); now.Sub(used) > time.Hour {
		os.Chtimes(p, now, now)
	}
	return raw[diskHeader:], true
}

// errOversized: a block file larger than any block, so damaged.
var errOversized = errors.New("block file larger than a block")

// readBlockFile reads a block file and tells when it was last used.
func readBlockFile(p string) ([]byte, time.Time, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, time.Time{}, err
	}
	if info.Size() > diskHeader+BlockSize {
		// No block is larger: the file is damaged, and its size is no
		// measure of what to allocate.
		return nil, time.Time{}, errOversized
	}
	raw := make([]byte, info.Size())
	if _, err := io.ReadFull(f, raw); err != nil {
		return nil, time.Time{}, err
	}
	return raw, info.ModTime(), nil
}

// Add queues a block to be written; the caller must not modify data. A
// full queue drops it.
func (d *Disk) Add(k BodyKey, data []byte) {
	if d == nil {
		return
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed || d.queued.Load()+int64(len(data)) > diskQueueBytes {
		return
	}
	select {
	case d.writes <- diskWrite{k, data}:
		d.queued.Add(int64(len(data)))
	default:
	}
}

func (d *Disk) writer() {
	defer close(d.done)
	<-d.counted // so that the count neither misses nor repeats a write
	var warned time.Time
	failed := 0
	for w := range d.writes {
		err := d.write(w.key, w.data)
		d.queued.Add(-int64(len(w.data)))
		if err != nil {
			// A full disk fails every write: say so once a minute.
			if failed++; time.Since(warned) > time.Minute {
				d.log.Warn("disk cache: cannot write blocks", "failed", failed, "err", err)
				warned, failed = time.Now(), 0
			}
		}
	}
}

func (d *Disk) write(k BodyKey, data []byte) error {
	size := int64(diskHeader + len(data))
	if size > d.max.Load() {
		return nil // it would evict everything, itself included
	}
	p := d.path(k)
	if _, err := os.Stat(p); err == nil {
		return nil // another mount, or an earlier fetch, wrote it
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return err
	}
	header := make([]byte, diskHeader)
	copy(header, diskMagic)
	binary.BigEndian.PutUint32(header[4:], crc32.Checksum(data, castagnoli))
	_, err = tmp.Write(header)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		os.Remove(tmp.Name())
		if errors.Is(err, syscall.ENOSPC) {
			// The filesystem fills before the bound: make room, and keep
			// below what fitted from now on.
			d.max.Store(max(int64(float64(d.used.Load())*evictTo), 0))
			d.evict()
		}
		return err
	}
	if d.used.Add(size) > d.max.Load() || d.written.Add(size) > d.max.Load()/10 {
		d.evict()
	}
	return nil
}

func (d *Disk) removeFile(p string) {
	<-d.counted // so that the count does not miss the removal
	if info, err := os.Stat(p); err == nil && os.Remove(p) == nil {
		d.used.Add(-info.Size())
	}
}

// RemoveMessage removes the blocks of one message of the given size (one
// block more, in case the size was short).
func (d *Disk) RemoveMessage(mailbox string, uidValidity, uid uint32, size int64) {
	if d == nil {
		return
	}
	for block := int64(0); block <= size/BlockSize+1; block++ {
		d.removeFile(d.path(BodyKey{Mailbox: mailbox, UIDValidity: uidValidity, UID: uid, Block: uint32(block)}))
	}
}

// KeepOnly removes, of a mailbox's blocks, those of another UIDVALIDITY
// and of messages not in uids (expunged while nobody looked). uids is
// sorted.
func (d *Disk) KeepOnly(mailbox string, uidValidity uint32, uids []uint32) {
	if d == nil {
		return
	}
	d.RemoveMailbox(mailbox, uidValidity)
	dir := filepath.Join(d.mailboxDir(mailbox), strconv.FormatUint(uint64(uidValidity), 10))
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if isTemp(e.Name()) {
			continue
		}
		uidText, _, _ := strings.Cut(e.Name(), ".")
		uid, err := strconv.ParseUint(uidText, 10, 32)
		if err == nil {
			if _, found := slices.BinarySearch(uids, uint32(uid)); found {
				continue
			}
		}
		d.removeFile(filepath.Join(dir, e.Name()))
	}
}

// RemoveMailbox removes every block of a mailbox except those of the
// given UIDVALIDITY (0: all), as a UIDVALIDITY change, DELETE or RENAME
// requires.
func (d *Disk) RemoveMailbox(mailbox string, keep uint32) {
	if d == nil {
		return
	}
	dir := d.mailboxDir(mailbox)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != strconv.FormatUint(uint64(keep), 10) {
			d.removeTree(filepath.Join(dir, e.Name()))
		}
	}
	if keep == 0 {
		os.Remove(dir)
	}
}

// removeTree removes a directory of blocks and counts what it held.
func (d *Disk) removeTree(dir string) {
	<-d.counted
	var size int64
	filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && !isTemp(e.Name()) {
			if info, err := e.Info(); err == nil {
				size += info.Size()
			}
		}
		return nil
	})
	if os.RemoveAll(dir) == nil {
		d.used.Add(-size)
	}
}

// count adds up what the cache holds at startup, and removes temporary
// files a crash left behind.
func (d *Disk) count() {
	defer close(d.counted)
	var size int64
	filepath.WalkDir(d.root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil
		}
		if isTemp(e.Name()) {
			if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > time.Hour {
				os.Remove(p)
			}
			return nil
		}
		if info, err := e.Info(); err == nil {
			size += info.Size()
		}
		return nil
	})
	if d.used.Add(size) > d.max.Load() {
		d.evict()
	}
}

// evict counts what the directory holds (other mounts may share it) and,
// if that is over the bound, removes the least recently used blocks until
// it holds at most evictTo of the bound.
func (d *Disk) evict() {
	if !d.evictMu.TryLock() {
		return // one is running
	}
	defer d.evictMu.Unlock()
	type block struct {
		path string
		size int64
		used time.Time
	}
	var blocks []block
	var total int64
	filepath.WalkDir(d.root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || isTemp(e.Name()) {
			return nil
		}
		if info, err := e.Info(); err == nil {
			blocks = append(blocks, block{p, info.Size(), info.ModTime()})
			total += info.Size()
		}
		return nil
	})
	// What the walk found is the truth; the counter may have drifted
	// (another mount sharing the directory, files removed by hand).
	d.used.Store(total)
	d.written.Store(0)
	if total <= d.max.Load() {
		return // a recount: other mounts' writes still fit
	}
	slices.SortFunc(blocks, func(a, b block) int { return a.used.Compare(b.used) })
	target := int64(float64(d.max.Load()) * evictTo)
	removed := 0
	for _, b := range blocks {
		if d.used.Load() <= target {
			break
		}
		if os.Remove(b.path) == nil {
			d.used.Add(-b.size)
			removed++
		}
	}
	d.log.Debug("disk cache: evicted", "blocks", removed, "bytes", d.used.Load(), "max", d.max.Load())
}

// Used is the bytes the cache holds, once the startup count is done.
func (d *Disk) Used() int64 {
	<-d.counted
	return d.used.Load()
}
