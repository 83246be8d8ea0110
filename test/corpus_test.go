package test

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// The demo corpus is well-formed mail: every message parses with net/mail,
// has From, Date (equal to its INTERNALDATE), Subject and a unique
// Message-ID, uses CRLF only, and every multipart has its boundaries and
// decodable parts. It covers what the demo promises.
func TestDemoCorpus(t *testing.T) {
	corpus := DemoCorpus()
	if n := len(corpus); n < 30 || n > 50 {
		t.Errorf("%d messages, want about 40", n)
	}
	if !reflect.DeepEqual(corpus, DemoCorpus()) {
		t.Error("DemoCorpus is not deterministic")
	}
	wantBoxes := []string{"Work", "Work/Projects 2025", "Büro & Ämter", "Archive", "Archive/2024"}
	if got := CorpusMailboxes(corpus); !equalSets(got, wantBoxes) {
		t.Errorf("mailboxes %q, want %q", got, wantBoxes)
	}
	ids := map[string]bool{}
	var dec mime.WordDecoder
	seen := map[string]int{}
	for i, c := range corpus {
		body := c.Body
		if bytes.Contains(bytes.ReplaceAll(body, []byte("\r\n"), nil), []byte("\n")) || bytes.Contains(bytes.ReplaceAll(body, []byte("\r\n"), nil), []byte("\r")) {
			t.Errorf("message %d (%s): bare CR or LF", i, c.Mailbox)
		}
		m, err := mail.ReadMessage(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("message %d (%s): %v", i, c.Mailbox, err)
		}
		subject, err := dec.DecodeHeader(m.Header.Get("Subject"))
		if err != nil || subject == "" || !utf8.ValidString(subject) {
			t.Errorf("message %d: Subject %q: %v", i, m.Header.Get("Subject"), err)
		}
		if strings.Contains(m.Header.Get("Subject"), "=?") {
			seen["encoded subject"]++
		}
		from, err := m.Header.AddressList("From")
		if err != nil || len(from) != 1 {
			t.Errorf("message %d %q: From %q: %v", i, subject, m.Header.Get("From"), err)
		} else if strings.Contains(m.Header.Get("From"), "=?") && !utf8.ValidString(from[0].Name) {
			t.Errorf("message %d: From name %q", i, from[0].Name)
		}
		date, err := m.Header.Date()
		if err != nil || !date.Equal(c.Date) {
			t.Errorf("message %d %q: Date %v (%v), INTERNALDATE %v", i, subject, date, err, c.Date)
		}
		if y := date.Year(); y < 2024 || y > 2025 {
			t.Errorf("message %d: date %v outside 2024-2025", i, date)
		}
		id := m.Header.Get("Message-ID")
		if id == "" || ids[id] {
			t.Errorf("message %d %q: Message-ID %q missing or repeated", i, subject, id)
		}
		ids[id] = true
		if irt := m.Header.Get("In-Reply-To"); irt != "" {
			seen["reply"]++
			if !ids[irt] {
				t.Errorf("message %d: In-Reply-To %s names no earlier message", i, irt)
			}
			if !strings.Contains(m.Header.Get("References"), irt) {
				t.Errorf("message %d: References %q lacks %s", i, m.Header.Get("References"), irt)
			}
		}
		for _, f := range c.Flags {
			seen[f]++
		}
		walkPart(t, i, m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Body, seen)
	}
	for _, want := range []string{"encoded subject", "reply", `\Seen`, `\Flagged`, "$Label1",
		"multipart/alternative", "multipart/mixed", "text/html", "application/pdf", "image/png", "text/csv"} {
		if seen[want] == 0 {
			t.Errorf("corpus has no %s", want)
		}
	}
}

// walkPart checks one MIME part and, for a multipart, each of its parts.
func walkPart(t *testing.T, i int, contentType, cte string, r io.Reader, seen map[string]int) {
	t.Helper()
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		t.Errorf("message %d: Content-Type %q: %v", i, contentType, err)
		return
	}
	seen[mediaType]++
	if strings.HasPrefix(mediaType, "multipart/") {
		if params["boundary"] == "" {
			t.Errorf("message %d: %s without a boundary", i, mediaType)
			return
		}
		mr := multipart.NewReader(r, params["boundary"])
		parts := 0
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Errorf("message %d: %s: %v", i, mediaType, err)
				return
			}
			parts++
			walkPart(t, i, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, seen)
		}
		if parts < 2 {
			t.Errorf("message %d: %s with %d parts", i, mediaType, parts)
		}
		return
	}
	data, err := io.ReadAll(r)
	if err != nil {
		t.Errorf("message %d: %s: %v", i, mediaType, err)
		return
	}
	switch strings.ToLower(cte) {
	case "base64":
		data, err = base64.StdEncoding.DecodeString(strings.ReplaceAll(string(data), "\r\n", ""))
	case "quoted-printable":
		data, err = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(data)))
	}
	if err != nil {
		t.Errorf("message %d: %s (%s): %v", i, mediaType, cte, err)
		return
	}
	switch mediaType {
	case "application/pdf":
		if !bytes.HasPrefix(data, []byte("%PDF-")) {
			t.Errorf("message %d: PDF attachment starts %q", i, data[:min(8, len(data))])
		}
	case "image/png":
		if !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) {
			t.Errorf("message %d: PNG attachment starts %q", i, data[:min(8, len(data))])
		}
	case "text/plain", "text/html":
		if !utf8.Valid(data) || len(data) == 0 {
			t.Errorf("message %d: %s not UTF-8 text: %q", i, mediaType, data)
		}
	}
}

func equalSets(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
