package test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"slices"
	"strings"
	"time"
)

// CorpusMessage is a message of a generated corpus and the mailbox it goes
// to: a UTF-8 path below the account's top level with "/" between levels
// ("INBOX", "Work/Projects 2025"), whatever the server's delimiter.
type CorpusMessage struct {
	Mailbox string
	Message
}

// DemoCorpus returns a small realistic mailbox, the same every time: about
// forty messages over INBOX, "Work", "Work/Projects 2025", "Büro & Ämter"
// and "Archive/2024"; plain text, multipart/alternative (text and HTML),
// multipart/mixed with small attachments (PDF, PNG, CSV), RFC 2047 encoded
// Subject and From headers, flags and keywords, a reply thread, dates over
// 2024 and 2025 with INTERNALDATE equal to the Date header, CRLF line ends.
// Each mailbox's messages come in date order.
func DemoCorpus() []CorpusMessage {
	var out []CorpusMessage
	for i, sp := range demoSpecs() {
		out = append(out, CorpusMessage{Mailbox: sp.mailbox, Message: sp.build(i + 1)})
	}
	slices.SortStableFunc(out, func(a, b CorpusMessage) int { return a.Date.Compare(b.Date) })
	return out
}

// CorpusMailboxes lists the mailboxes a corpus needs besides INBOX, parents
// before their children.
func CorpusMailboxes(corpus []CorpusMessage) []string {
	var boxes []string
	for _, m := range corpus {
		parts := strings.Split(m.Mailbox, "/")
		for i := range parts {
			p := strings.Join(parts[:i+1], "/")
			if p != "INBOX" && !slices.Contains(boxes, p) {
				boxes = append(boxes, p)
			}
		}
	}
	return boxes
}

// SeedCorpus creates the corpus's mailboxes for u and appends its messages,
// each mailbox's in order, with their flags and INTERNALDATE.
func SeedCorpus(t T, s *Server, u User, corpus []CorpusMessage) {
	t.Helper()
	name := func(path string) string {
		if path == "INBOX" {
			return "INBOX"
		}
		return s.Personal(strings.Split(path, "/")...)
	}
	boxes := CorpusMailboxes(corpus)
	for _, b := range boxes {
		s.CreateMailbox(t, u, name(b))
	}
	for _, b := range append([]string{"INBOX"}, boxes...) {
		var msgs []Message
		for _, m := range corpus {
			if m.Mailbox == b {
				msgs = append(msgs, m.Message)
			}
		}
		if len(msgs) > 0 {
			s.Seed(t, u, name(b), msgs...)
		}
	}
}

type attachment struct {
	name, ctype string
	data        []byte
}

type mailSpec struct {
	mailbox  string
	date     time.Time
	from, to string // "Name <addr>" or a bare address, UTF-8
	subject  string // UTF-8
	flags    []string
	msgID    string // without <>; "" makes one up
	replyTo  []string
	text     string
	html     bool // add an HTML version (multipart/alternative)
	attach   []attachment
	extra    []string // more header lines
	encodeAs string   // "b" for B-encoded words, else Q
}

var (
	zoneCET  = time.FixedZone("CET", 3600)
	zoneCEST = time.FixedZone("CEST", 2*3600)
	zoneEST  = time.FixedZone("EST", -5*3600)
	zoneJST  = time.FixedZone("JST", 9*3600)
)

func corpusAt(year int, month time.Month, day, hour, min int, zone *time.Location) time.Time {
	return time.Date(year, month, day, hour, min, (day*7+hour*13+min)%60, 0, zone)
}

func (sp mailSpec) build(n int) Message {
	var h bytes.Buffer
	enc := mime.QEncoding
	if sp.encodeAs == "b" {
		enc = mime.BEncoding
	}
	header := func(k, v string) { fmt.Fprintf(&h, "%s: %s\r\n", k, v) }
	id := sp.msgID
	if id == "" {
		id = fmt.Sprintf("%d.%x@mail.example.org", sp.date.Unix(), n*7919)
	}
	header("Return-Path", "<"+addrOf(sp.from)+">")
	header("Received", fmt.Sprintf("from mx%d.example.net (mx%d.example.net [192.0.2.%d])\r\n\tby mail.example.org with ESMTPS id %x\r\n\tfor <%s>; %s",
		n%3+1, n%3+1, 10+n, n*104729, addrOf(sp.to), sp.date.Add(3*time.Second).Format(time.RFC1123Z)))
	header("Message-ID", "<"+id+">")
	header("Date", sp.date.Format(time.RFC1123Z))
	header("From", encodeAddress(enc, sp.from))
	header("To", encodeAddress(enc, sp.to))
	subject := sp.subject
	if !isASCII(subject) {
		// Long encoded subjects are folded between encoded words.
		subject = strings.ReplaceAll(enc.Encode("UTF-8", subject), "?= =?", "?=\r\n =?")
	}
	header("Subject", subject)
	if len(sp.replyTo) > 0 {
		header("In-Reply-To", "<"+sp.replyTo[len(sp.replyTo)-1]+">")
		header("References", "<"+strings.Join(sp.replyTo, ">\r\n <")+">")
	}
	for _, e := range sp.extra {
		h.WriteString(e + "\r\n")
	}
	header("MIME-Version", "1.0")

	var body bytes.Buffer
	switch {
	case len(sp.attach) > 0:
		w := multipart.NewWriter(&body)
		w.SetBoundary(fmt.Sprintf("=_mixed_%04d_imapfs", n))
		header("Content-Type", mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": w.Boundary()}))
		body.WriteString("This is a multi-part message in MIME format.\r\n")
		if sp.html {
			alt, altType := alternative(n, sp.text)
			part, _ := w.CreatePart(textproto.MIMEHeader{"Content-Type": {altType}})
			part.Write(alt)
		} else {
			ctype, cte, text := textPart(sp.text)
			part, _ := w.CreatePart(textproto.MIMEHeader{"Content-Type": {ctype}, "Content-Transfer-Encoding": {cte}})
			part.Write(text)
		}
		for _, a := range sp.attach {
			part, _ := w.CreatePart(textproto.MIMEHeader{
				"Content-Type":              {mime.FormatMediaType(a.ctype, map[string]string{"name": a.name})},
				"Content-Disposition":       {mime.FormatMediaType("attachment", map[string]string{"filename": a.name})},
				"Content-Transfer-Encoding": {"base64"},
			})
			part.Write(base64Lines(a.data))
		}
		w.Close()
	case sp.html:
		alt, altType := alternative(n, sp.text)
		header("Content-Type", altType)
		body.Write(alt)
	default:
		ctype, cte, text := textPart(sp.text)
		header("Content-Type", ctype)
		header("Content-Transfer-Encoding", cte)
		body.Write(text)
	}
	msg := h.String() + "\r\n" + body.String()
	// Every line ends in CRLF, as on the wire.
	msg = strings.ReplaceAll(strings.ReplaceAll(msg, "\r\n", "\n"), "\n", "\r\n")
	return Message{Body: []byte(msg), Flags: sp.flags, Date: sp.date}
}

func addrOf(s string) string {
	if a, err := mail.ParseAddress(s); err == nil {
		return a.Address
	}
	return s
}

func encodeAddress(enc mime.WordEncoder, s string) string {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name == "" {
		return s
	}
	if isASCII(a.Name) {
		return a.String()
	}
	return enc.Encode("UTF-8", a.Name) + " <" + a.Address + ">"
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// textPart encodes text as 7bit when it is ASCII, else quoted-printable.
func textPart(text string) (ctype, cte string, body []byte) {
	text = strings.ReplaceAll(text, "\n", "\r\n")
	if isASCII(text) {
		return "text/plain; charset=us-ascii", "7bit", []byte(text)
	}
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	w.Write([]byte(text))
	w.Close()
	return "text/plain; charset=utf-8", "quoted-printable", b.Bytes()
}

// alternative renders text as multipart/alternative: the text itself and an
// HTML version of it.
func alternative(n int, text string) ([]byte, string) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	w.SetBoundary(fmt.Sprintf("=_alt_%04d_imapfs", n))
	ctype, cte, plain := textPart(text)
	part, _ := w.CreatePart(textproto.MIMEHeader{"Content-Type": {ctype}, "Content-Transfer-Encoding": {cte}})
	part.Write(plain)
	var html strings.Builder
	html.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\n<body style=\"font-family: sans-serif\">\n")
	for _, para := range strings.Split(text, "\n\n") {
		html.WriteString("<p>" + strings.ReplaceAll(escapeHTML(para), "\n", "<br>\n") + "</p>\n")
	}
	html.WriteString("</body></html>\n")
	_, cte, htmlBody := textPart(html.String())
	part, _ = w.CreatePart(textproto.MIMEHeader{"Content-Type": {"text/html; charset=utf-8"}, "Content-Transfer-Encoding": {cte}})
	part.Write(htmlBody)
	w.Close()
	return b.Bytes(), mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": w.Boundary()})
}

func escapeHTML(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func base64Lines(data []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(data)
	var b bytes.Buffer
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	return b.Bytes()
}

// pdf makes a small valid one-page PDF showing the given lines.
func corpusPDF(lines ...string) []byte {
	var content strings.Builder
	content.WriteString("BT /F1 12 Tf 72 760 Td 16 TL\n")
	for _, l := range lines {
		content.WriteString("(" + strings.NewReplacer(`\`, `\\`, "(", `\(`, ")", `\)`).Replace(l) + ") Tj T*\n")
	}
	content.WriteString("ET\n")
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", content.Len(), content.String()),
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	var offsets []int
	for i, o := range objs {
		offsets = append(offsets, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

// pngImage makes a small gradient picture.
func corpusPNG(w, h int, r0, g0, b0 uint8) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{r0 + uint8(x*4), g0 + uint8(y*3), b0 + uint8((x+y)*2), 255})
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

func corpusCSV(rows ...string) []byte { return []byte(strings.Join(rows, "\r\n") + "\r\n") }

const (
	corpusMe  = "Alice Example <alice@example.org>"
	threadTop = "q3-planning.1@work.example.com"
)

func demoSpecs() []mailSpec {
	seen := []string{`\Seen`}
	return []mailSpec{
		// INBOX
		{mailbox: "INBOX", date: corpusAt(2025, 1, 7, 8, 2, zoneCET), from: "Digest <news@updates.example.net>", to: corpusMe,
			subject: "Your January digest: 5 things worth reading", flags: seen, html: true,
			extra: []string{"List-Unsubscribe: <https://updates.example.net/unsubscribe?u=alice>"},
			text:  "Hello Alice,\n\nhere is what happened this month:\n\n1. Tiny filesystems in Go\n2. Why IMAP still matters\n3. Backups you can grep\n\nSee you next month,\nThe Digest team"},
		{mailbox: "INBOX", date: corpusAt(2025, 1, 14, 9, 30, zoneEST), from: "Billing <billing@hosting.example.com>", to: corpusMe,
			subject: "Invoice 2025-0114 for your hosting plan", flags: []string{`\Seen`, "$Label1"},
			text:   "Dear customer,\n\nplease find attached invoice 2025-0114 (EUR 59.88, 12 months of the Small plan).\nThe amount will be charged to your card on file on 2025-01-21.\n\nThank you for your business.\nExample Hosting",
			attach: []attachment{{"invoice-2025-0114.pdf", "application/pdf", corpusPDF("Example Hosting", "Invoice 2025-0114", "Small plan, 12 months: EUR 59.88")}}},
		{mailbox: "INBOX", date: corpusAt(2025, 2, 3, 17, 45, zoneCET), from: "Amélie Dubois <amelie.dubois@example.fr>", to: corpusMe,
			subject: "Réunion d'équipe jeudi", flags: []string{`\Flagged`},
			text: "Bonjour Alice,\n\nla réunion d'équipe zoneEST déplacée à jeudi, 14 h, salle « Érable ».\nÀ l'ordre du jour : budget, planning, déménagement.\n\nBien à toi,\nAmélie"},
		{mailbox: "INBOX", date: corpusAt(2025, 2, 11, 10, 12, zoneJST), from: "田中 太郎 <tanaka@example.jp>", to: corpusMe,
			subject: "会議の議事録（2月10日）", flags: seen, encodeAs: "b",
			text: "アリスさん\n\n昨日の会議の議事録をお送りします。\n次回は3月10日です。\n\n田中"},
		{mailbox: "INBOX", date: corpusAt(2025, 3, 2, 13, 5, zoneCET), from: "Parcel Service <noreply@parcels.example.com>", to: corpusMe,
			subject: "Your parcel is on its way", flags: seen, html: true,
			text: "Good news!\n\nYour parcel 00340434161234567890 left our depot and arrives tomorrow between 10:00 and 14:00.\n\nTrack it at https://parcels.example.com/t/00340434161234567890"},
		{mailbox: "INBOX", date: corpusAt(2025, 3, 9, 19, 40, zoneCET), from: "Bob Builder <bob@example.com>", to: corpusMe,
			subject: "Photos from the weekend", flags: []string{`\Seen`, `\Flagged`, "$Label4"},
			text:   "Hi Alice,\n\nhere's the sunset from Saturday, tiny as promised.\n\nBob",
			attach: []attachment{{"sunset.png", "image/png", corpusPNG(24, 16, 200, 80, 20)}, {"lake.png", "image/png", corpusPNG(16, 16, 20, 90, 180)}}},
		{mailbox: "INBOX", date: corpusAt(2025, 3, 18, 7, 55, zoneCET), from: "Stadtwerke Musterstadt <rechnung@stadtwerke.example.de>", to: corpusMe,
			subject: "Ihre Rechnung (invoice) für März – Kundennummer 4711", flags: []string{"$Label1"},
			text:   "Sehr geehrte Frau Example,\n\nanbei erhalten Sie Ihre Rechnung für März 2025 (invoice no. SW-2025-03-4711).\nBetrag: 84,20 €, fällig am 01.04.2025.\n\nMit freundlichen Grüßen\nIhre Stadtwerke",
			attach: []attachment{{"Rechnung-März-2025.pdf", "application/pdf", corpusPDF("Stadtwerke Musterstadt", "Rechnung SW-2025-03-4711", "Betrag: 84,20 EUR")}}},
		{mailbox: "INBOX", date: corpusAt(2025, 4, 1, 11, 0, zoneCEST), from: "Security Team <security@accounts.example.com>", to: corpusMe,
			subject: "New sign-in to your account", flags: seen, html: true,
			text: "We noticed a new sign-in to your account from Firefox on Linux (Berlin, Germany).\n\nIf this was you, there is nothing to do. Otherwise, change your password now."},
		{mailbox: "INBOX", date: corpusAt(2025, 4, 22, 21, 17, zoneCEST), from: "Zoë Ångström <zoe@example.se>", to: corpusMe,
			subject: "Fika på fredag? ☕", flags: nil, encodeAs: "b",
			text: "Hej Alice!\n\nSka vi ta en fika på fredag? Jag bjuder på kanelbullar.\n\n/Zoë"},
		{mailbox: "INBOX", date: corpusAt(2025, 5, 6, 8, 30, zoneCEST), from: "Conference 2025 <info@conf.example.org>", to: corpusMe,
			subject: "Your ticket for Conference 2025", flags: []string{`\Seen`, "$Label3"}, html: true,
			text:   "Hello Alice,\n\nthank you for registering. Your ticket is attached; show it at the entrance.\n\nVenue: Congress Centre, Hall B\nDate: 12-13 June 2025",
			attach: []attachment{{"ticket.pdf", "application/pdf", corpusPDF("Conference 2025", "Ticket CONF-25-0042", "Alice Example")}}},
		{mailbox: "INBOX", date: corpusAt(2025, 6, 30, 16, 4, zoneCEST), from: "Bank <statements@bank.example.com>", to: corpusMe,
			subject: "Your statement for June is ready", flags: nil,
			text:   "Dear Alice Example,\n\nyour account statement for June 2025 is attached as a CSV file.\n\nYour bank",
			attach: []attachment{{"statement-2025-06.csv", "text/csv", corpusCSV("date,description,amount", "2025-06-02,Salary,3120.00", "2025-06-05,Rent,-980.00", "2025-06-18,Stadtwerke invoice SW-2025-06-4711,-84.20", "2025-06-27,Groceries,-64.35")}}},
		{mailbox: "INBOX", date: corpusAt(2025, 9, 15, 12, 22, zoneCEST), from: "Renée Müller-Lüdenscheidt <renee@example.de>", to: corpusMe,
			subject: "Grüße aus München", flags: nil,
			text: "Liebe Alice,\n\nviele Grüße vom Oktoberfest-Aufbau! Die Wiesn öffnet am Samstag.\nWann kommst du vorbei?\n\nRenée"},
		{mailbox: "INBOX", date: corpusAt(2025, 11, 3, 9, 1, zoneCET), from: "Billing <billing@hosting.example.com>", to: corpusMe,
			subject: "Reminder: invoice 2025-1103 is due", flags: []string{`\Flagged`},
			text: "Dear customer,\n\nthis is a friendly reminder that invoice 2025-1103 (EUR 12.00, extra storage) is due on 2025-11-17.\n\nExample Hosting"},

		// Work, with a reply thread
		{mailbox: "Work", date: corpusAt(2025, 1, 20, 9, 15, zoneCET), from: "Carol Chen <carol@work.example.com>", to: corpusMe,
			subject: "Q3 planning", flags: []string{`\Seen`, `\Answered`}, msgID: threadTop,
			text: "Hi all,\n\nlet's start planning Q3. Please send me your top three priorities by Friday.\n\nCarol"},
		{mailbox: "Work", date: corpusAt(2025, 1, 20, 11, 2, zoneCET), from: corpusMe, to: "Carol Chen <carol@work.example.com>",
			subject: "Re: Q3 planning", flags: seen, msgID: "q3-planning.2@example.org", replyTo: []string{threadTop},
			text: "Hi Carol,\n\nmine: 1. the storage migration, 2. on-call handbook, 3. hiring.\n\nAlice\n\n> let's start planning Q3. Please send me your top three priorities by Friday."},
		{mailbox: "Work", date: corpusAt(2025, 1, 21, 8, 47, zoneCET), from: "Dmitri Ivanov <dmitri@work.example.com>", to: "Carol Chen <carol@work.example.com>",
			subject: "Re: Q3 planning", flags: seen, msgID: "q3-planning.3@work.example.com", replyTo: []string{threadTop, "q3-planning.2@example.org"},
			text: "+1 to the storage migration. I'd add the invoice export for accounting.\n\nDmitri\n\n> mine: 1. the storage migration, 2. on-call handbook, 3. hiring."},
		{mailbox: "Work", date: corpusAt(2025, 1, 22, 14, 30, zoneCET), from: "Carol Chen <carol@work.example.com>", to: corpusMe,
			subject: "Re: Q3 planning", flags: []string{`\Seen`, `\Flagged`}, msgID: "q3-planning.4@work.example.com",
			replyTo: []string{threadTop, "q3-planning.2@example.org", "q3-planning.3@work.example.com"},
			text:    "Thanks both. Summary attached; we'll go through it on Monday.\n\nCarol",
			attach:  []attachment{{"q3-priorities.csv", "text/csv", corpusCSV("owner,priority,item", "alice,1,storage migration", "alice,2,on-call handbook", "alice,3,hiring", "dmitri,1,invoice export")}}},
		{mailbox: "Work", date: corpusAt(2025, 2, 17, 10, 0, zoneCET), from: "HR <hr@work.example.com>", to: "all@work.example.com",
			subject: "Office closed on Monday", flags: seen, html: true,
			text: "Dear colleagues,\n\nthe office is closed on Monday for maintenance. Please work from home.\n\nHR"},
		{mailbox: "Work", date: corpusAt(2025, 3, 4, 16, 20, zoneCET), from: "José Núñez <jose@work.example.com>", to: corpusMe,
			subject: "Migración de almacenamiento: estado", flags: []string{`\Seen`, "$Label2"},
			text: "Hola Alice,\n\nla migración va bien: 70 % de los buzones ya están en el nuevo clúster.\nMañana seguimos con el resto.\n\nJosé"},
		{mailbox: "Work", date: corpusAt(2025, 4, 9, 9, 5, zoneCEST), from: "Build Bot <ci@work.example.com>", to: corpusMe,
			subject: "[ci] main is green again", flags: seen,
			extra: []string{"X-Mailer: buildbot 3.11"},
			text:  "Build #1842 of main passed.\n\nChanges:\n  fix flaky test in storage/replica\n"},
		{mailbox: "Work", date: corpusAt(2025, 5, 12, 18, 33, zoneCEST), from: "Carol Chen <carol@work.example.com>", to: corpusMe,
			subject: "Expense report", flags: []string{`\Flagged`},
			text:   "Hi Alice,\n\ncould you approve my expense report for the trip to Lyon? The hotel invoice is attached.\n\nThanks,\nCarol",
			attach: []attachment{{"hotel-invoice-lyon.pdf", "application/pdf", corpusPDF("Hôtel du Parc, Lyon", "Invoice 88412", "2 nights: EUR 236.00")}}},
		{mailbox: "Work", date: corpusAt(2025, 7, 1, 8, 0, zoneCEST), from: "IT <it@work.example.com>", to: "all@work.example.com",
			subject: "Password rotation reminder", flags: seen, html: true,
			text: "Hello,\n\nyour password expires in 7 days. Change it at https://sso.work.example.com before then.\n\nIT"},

		// Work/Projects 2025
		{mailbox: "Work/Projects 2025", date: corpusAt(2025, 1, 9, 10, 10, zoneCET), from: "Dmitri Ivanov <dmitri@work.example.com>", to: corpusMe,
			subject: "Kick-off: storage migration", flags: seen,
			text: "Hi Alice,\n\nkick-off is on Tuesday. Agenda: scope, timeline, risks.\n\nDmitri"},
		{mailbox: "Work/Projects 2025", date: corpusAt(2025, 2, 24, 15, 45, zoneCET), from: "Dmitri Ivanov <dmitri@work.example.com>", to: corpusMe,
			subject: "Migration plan v2", flags: []string{`\Seen`, "$Label2"},
			text:   "Updated plan attached: mailboxes move in four waves.\n\nDmitri",
			attach: []attachment{{"waves.csv", "text/csv", corpusCSV("wave,start,mailboxes", "1,2025-03-03,120", "2,2025-03-10,480", "3,2025-03-17,900", "4,2025-03-24,1200")}}},
		{mailbox: "Work/Projects 2025", date: corpusAt(2025, 3, 28, 12, 0, zoneCET), from: "Vendor Sales <sales@storage.example.net>", to: corpusMe,
			subject: "Quote and invoice for 4 additional nodes", flags: []string{"$Label1"},
			text:   "Hello Alice,\n\nas discussed, here are the quote and the pro-forma invoice for four additional storage nodes.\n\nBest regards,\nVendor Sales",
			attach: []attachment{{"proforma-invoice-SN-4.pdf", "application/pdf", corpusPDF("Storage Vendor", "Pro-forma invoice SN-4", "4 nodes: EUR 18,400.00")}}},
		{mailbox: "Work/Projects 2025", date: corpusAt(2025, 6, 2, 9, 9, zoneCEST), from: "Łukasz Wójcik <lukasz@work.example.com>", to: corpusMe,
			subject: "Zrzuty ekranu z nowego panelu", flags: seen,
			text:   "Cześć Alice,\n\nw załączniku zrzut ekranu nowego panelu administracyjnego.\n\nŁukasz",
			attach: []attachment{{"panel.png", "image/png", corpusPNG(32, 20, 30, 30, 60)}}},
		{mailbox: "Work/Projects 2025", date: corpusAt(2025, 8, 19, 17, 30, zoneCEST), from: "Carol Chen <carol@work.example.com>", to: corpusMe,
			subject: "Retrospective notes", flags: []string{`\Seen`, `\Flagged`}, html: true,
			text: "What went well: waves 1-3, communication.\n\nWhat to improve: wave 4 rollback plan, earlier vendor invoices.\n\nCarol"},
		{mailbox: "Work/Projects 2025", date: corpusAt(2025, 10, 6, 10, 45, zoneCEST), from: "Dmitri Ivanov <dmitri@work.example.com>", to: corpusMe,
			subject: "Project closed 🎉", flags: nil,
			text: "The storage migration is officially done. Thanks for all the work!\n\nDmitri"},

		// Büro & Ämter
		{mailbox: "Büro & Ämter", date: corpusAt(2024, 11, 12, 9, 0, zoneCET), from: "Finanzamt Musterstadt <poststelle@finanzamt.example.de>", to: corpusMe,
			subject: "Ihr Steuerbescheid 2023", flags: []string{`\Seen`, "$Label1"},
			text:   "Sehr geehrte Frau Example,\n\nIhr Einkommensteuerbescheid für 2023 liegt bei. Erstattung: 412,00 €.\n\nMit freundlichen Grüßen\nIhr Finanzamt",
			attach: []attachment{{"Steuerbescheid-2023.pdf", "application/pdf", corpusPDF("Finanzamt Musterstadt", "Einkommensteuerbescheid 2023", "Erstattung: 412,00 EUR")}}},
		{mailbox: "Büro & Ämter", date: corpusAt(2025, 1, 30, 14, 15, zoneCET), from: "Bürgeramt <termine@buergeramt.example.de>", to: corpusMe,
			subject: "Terminbestätigung: Personalausweis", flags: seen, html: true,
			text: "Ihr Termin: Dienstag, 11.02.2025, 10:20 Uhr, Schalter 7.\n\nBitte bringen Sie ein biometrisches Passfoto mit."},
		{mailbox: "Büro & Ämter", date: corpusAt(2025, 4, 14, 8, 20, zoneCEST), from: "Hausverwaltung Öztürk <verwaltung@hv-oeztuerk.example.de>", to: corpusMe,
			subject: "Nebenkostenabrechnung 2024", flags: []string{`\Flagged`},
			text:   "Guten Tag,\n\nanbei die Nebenkostenabrechnung 2024 (invoice/Rechnung). Nachzahlung: 126,40 €.\n\nHausverwaltung Öztürk",
			attach: []attachment{{"Nebenkosten-2024.csv", "text/csv", corpusCSV("Posten;Betrag", "Heizung;612,00", "Wasser;208,10", "Müll;96,30")}}},
		{mailbox: "Büro & Ämter", date: corpusAt(2025, 7, 21, 11, 11, zoneCEST), from: "Krankenkasse <service@kasse.example.de>", to: corpusMe,
			subject: "Bescheinigung für Ihre Unterlagen", flags: seen,
			text: "Sehr geehrte Versicherte,\n\nIhre Mitgliedsbescheinigung finden Sie im Online-Postfach.\n\nIhre Krankenkasse"},
		{mailbox: "Büro & Ämter", date: corpusAt(2025, 12, 1, 10, 30, zoneCET), from: "Kfz-Zulassungsstelle <zulassung@kreis.example.de>", to: corpusMe,
			subject: "Änderung Ihrer Fahrzeugdaten", flags: nil,
			text: "Sehr geehrte Frau Example,\n\ndie Änderung Ihrer Anschrift wurde in den Fahrzeugschein übernommen.\n\nMit freundlichen Grüßen"},

		// Archive/2024
		{mailbox: "Archive/2024", date: corpusAt(2024, 1, 15, 10, 5, zoneCET), from: "Billing <billing@hosting.example.com>", to: corpusMe,
			subject: "Invoice 2024-0115 for your hosting plan", flags: seen,
			text:   "Dear customer,\n\nplease find attached invoice 2024-0115 (EUR 59.88).\n\nExample Hosting",
			attach: []attachment{{"invoice-2024-0115.pdf", "application/pdf", corpusPDF("Example Hosting", "Invoice 2024-0115", "Small plan, 12 months: EUR 59.88")}}},
		{mailbox: "Archive/2024", date: corpusAt(2024, 3, 8, 18, 0, zoneCET), from: "Bob Builder <bob@example.com>", to: corpusMe,
			subject: "Happy birthday!", flags: []string{`\Seen`, "$Label4"},
			text: "Happy birthday, Alice! Cake on Saturday?\n\nBob"},
		{mailbox: "Archive/2024", date: corpusAt(2024, 5, 27, 7, 45, zoneCEST), from: "Airline <booking@air.example.com>", to: corpusMe,
			subject: "Booking confirmation ABC123", flags: seen, html: true,
			text: "Your flight BER → LIS on 14 June 2024, 06:55, seat 12A.\n\nBooking reference: ABC123"},
		{mailbox: "Archive/2024", date: corpusAt(2024, 8, 2, 20, 12, zoneCEST), from: "Amélie Dubois <amelie.dubois@example.fr>", to: corpusMe,
			subject: "Vacances d'été 🌞", flags: seen,
			text: "Coucou Alice,\n\nnous sommes à Biarritz jusqu'au 20 août. Passe nous voir !\n\nAmélie"},
		{mailbox: "Archive/2024", date: corpusAt(2024, 10, 10, 13, 37, zoneCEST), from: "Online Shop <orders@shop.example.com>", to: corpusMe,
			subject: "Order #10442: invoice and receipt", flags: seen,
			text:   "Thanks for your order!\n\n1x USB-C cable, 1x mechanical keyboard. Your invoice is attached.\n\nOnline Shop",
			attach: []attachment{{"invoice-10442.pdf", "application/pdf", corpusPDF("Online Shop", "Invoice 10442", "Total: EUR 112.49")}, {"items.csv", "text/csv", corpusCSV("sku,item,qty,price", "C-USB-1,USB-C cable,1,9.99", "KB-M-2,Mechanical keyboard,1,102.50")}}},
		{mailbox: "Archive/2024", date: corpusAt(2024, 12, 23, 16, 0, zoneCET), from: "Carol Chen <carol@work.example.com>", to: "all@work.example.com",
			subject: "Happy holidays", flags: seen, html: true,
			text: "Thank you all for a great year. See you in January!\n\nCarol"},
	}
}
