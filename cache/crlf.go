package cache

import (
	"bytes"
	"crypto/sha256"
	"io"
	"os"
)

// Messages on IMAP end their lines with CRLF (RFC 5322), files on Unix
// often with LF alone (Maildir files, an editor's new file). Cyrus
// refuses bare newlines in APPEND, Dovecot turns them into CRLF: imapfs
// turns them into CRLF itself before APPEND, as mbsync and mutt do, so
// every server stores the same bytes. A message already in CRLF is sent
// as it is.

// crlfReader reads src with every LF not preceded by CR made CRLF.
type crlfReader struct {
	src    io.Reader
	store  [32 << 10]byte
	buf    []byte // read from src, not yet returned
	err    error  // src's error, returned once buf is empty
	prevCR bool   // the last byte returned was CR
}

func newCRLFReader(src io.Reader) *crlfReader { return &crlfReader{src: src} }

func (c *crlfReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(c.buf) == 0 {
			if c.err != nil || n > 0 {
				break
			}
			m, err := c.src.Read(c.store[:])
			c.buf, c.err = c.store[:m], err
			continue
		}
		if c.buf[0] == '\n' && !c.prevCR {
			// A bare LF: CR now; the LF, now preceded by CR, follows.
			p[n] = '\r'
			n++
			c.prevCR = true
			continue
		}
		// Up to and including the next LF (or all of buf) passes as it is.
		end := len(c.buf)
		if i := bytes.IndexByte(c.buf[1:], '\n'); i >= 0 {
			end = i + 1
		}
		k := copy(p[n:], c.buf[:end])
		c.prevCR = c.buf[k-1] == '\r'
		c.buf = c.buf[k:]
		n += k
	}
	if n == 0 {
		return 0, c.err
	}
	return n, nil
}

// wireForm is how a spool file goes over the wire, its line ends made
// CRLF: its size as sent, whether it must go as binary (a message holding
// NUL bytes can only be sent as BINARY's literal8), and the SHA-256 of
// those bytes, which tells uploads of the same message apart from others.
type wireForm struct {
	size   int64
	binary bool
	digest [sha256.Size]byte
}

// reader reads the spool file f in this form.
func (w wireForm) reader(f io.Reader) io.Reader { return newCRLFReader(f) }

// scanSpool reads a spool file once to find its wire form.
func scanSpool(path string) (wireForm, error) {
	f, err := os.Open(path)
	if err != nil {
		return wireForm{}, err
	}
	defer f.Close()
	var scan wireScan
	digest := sha256.New()
	if _, err := io.Copy(io.MultiWriter(digest, &scan), newCRLFReader(f)); err != nil {
		return wireForm{}, err
	}
	form := wireForm{size: scan.size, binary: scan.nul}
	digest.Sum(form.digest[:0])
	return form, nil
}

// wireScan counts the bytes written to it and notes a NUL among them.
type wireScan struct {
	size int64
	nul  bool
}

func (w *wireScan) Write(p []byte) (int, error) {
	w.size += int64(len(p))
	w.nul = w.nul || bytes.IndexByte(p, 0) >= 0
	return len(p), nil
}
