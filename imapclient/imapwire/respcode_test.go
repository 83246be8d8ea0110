package imapwire

import (
	"reflect"
	"strings"
	"testing"
)

func TestReadRespCode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want RespCode
	}{
		{"[ALERT]", RespCode{Name: "ALERT"}},
		{"[read-only]", RespCode{Name: "READ-ONLY"}},
		{"[UIDVALIDITY 3857529045]", RespCode{Name: "UIDVALIDITY", Raw: "3857529045", Number: 3857529045}},
		{"[UIDNEXT 4392]", RespCode{Name: "UIDNEXT", Raw: "4392", Number: 4392}},
		{"[UNSEEN 12]", RespCode{Name: "UNSEEN", Raw: "12", Number: 12}},
		{"[HIGHESTMODSEQ 715194045007]", RespCode{Name: "HIGHESTMODSEQ", Raw: "715194045007", Number: 715194045007}},
		{"[APPENDUID 38505 3955]", RespCode{Name: "APPENDUID", Raw: "38505 3955", UIDValidity: 38505, UIDs: "3955"}},
		{"[APPENDUID 38505 3955:3957]", RespCode{Name: "APPENDUID", Raw: "38505 3955:3957", UIDValidity: 38505, UIDs: "3955:3957"}},
		{"[COPYUID 38505 304,319:320 3956:3958]", RespCode{Name: "COPYUID", Raw: "38505 304,319:320 3956:3958",
			UIDValidity: 38505, SourceUIDs: "304,319:320", UIDs: "3956:3958"}},
		{"[MODIFIED 7,9]", RespCode{Name: "MODIFIED", Raw: "7,9", Set: "7,9"}},
		{"[CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN]", RespCode{Name: "CAPABILITY", Raw: "IMAP4rev1 LITERAL+ AUTH=PLAIN",
			List: []string{"IMAP4rev1", "LITERAL+", "AUTH=PLAIN"}}},
		{`[PERMANENTFLAGS (\Answered \Seen $Forwarded \*)]`, RespCode{Name: "PERMANENTFLAGS", Raw: `(\Answered \Seen $Forwarded \*)`,
			List: []string{`\Answered`, `\Seen`, "$Forwarded", `\*`}}},
		{"[PERMANENTFLAGS ()]", RespCode{Name: "PERMANENTFLAGS", Raw: "()"}},
		// A keyword may hold "[" (atom-char), which nothing closes.
		{`[PERMANENTFLAGS (\Seen foo[bar \*)]`, RespCode{Name: "PERMANENTFLAGS", Raw: `(\Seen foo[bar \*)`,
			List: []string{`\Seen`, "foo[bar", `\*`}}},
		{"[BADCHARSET]", RespCode{Name: "BADCHARSET"}},
		{`[BADCHARSET (UTF-8 "US-ASCII")]`, RespCode{Name: "BADCHARSET", Raw: `(UTF-8 "US-ASCII")`, List: []string{"UTF-8", "US-ASCII"}}},
		{"[METADATA LONGENTRIES 2199]", RespCode{Name: "METADATA", Raw: "LONGENTRIES 2199", Arg: "LONGENTRIES", Number: 2199}},
		{"[METADATA MAXSIZE 1024]", RespCode{Name: "METADATA", Raw: "MAXSIZE 1024", Arg: "MAXSIZE", Number: 1024}},
		{"[METADATA TOOMANY]", RespCode{Name: "METADATA", Raw: "TOOMANY", Arg: "TOOMANY"}},
		{"[METADATA noprivate]", RespCode{Name: "METADATA", Raw: "noprivate", Arg: "NOPRIVATE"}},
		{"[ANNOTATE TOOBIG]", RespCode{Name: "ANNOTATE", Raw: "TOOBIG", Arg: "TOOBIG"}},
		{"[ANNOTATE TOOMANY]", RespCode{Name: "ANNOTATE", Raw: "TOOMANY", Arg: "TOOMANY"}},
		{`[NOUPDATE "B02"]`, RespCode{Name: "NOUPDATE", Raw: `"B02"`, Arg: "B02"}},
		{"[X-UNKNOWN some (raw) \"text]\" here]", RespCode{Name: "X-UNKNOWN", Raw: `some (raw) "text]" here`}},
		{"[REFERRAL imap://[::1]/INBOX]", RespCode{Name: "REFERRAL", Raw: "imap://[::1]/INBOX"}},
		{"[REFERRAL imap://[::1]]", RespCode{Name: "REFERRAL", Raw: "imap://[::1]"}},
		{"[ALERT ]", RespCode{Name: "ALERT"}},
	} {
		d := decoderFor(tc.in + " text\r\n")
		got, err := d.ReadRespCode()
		if err != nil || !reflect.DeepEqual(*got, tc.want) {
			t.Errorf("ReadRespCode(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			continue
		}
		if rest, _ := d.ReadText(); rest != " text" {
			t.Errorf("%q: left %q", tc.in, rest)
		}
	}
}

func TestRespCodeKnown(t *testing.T) {
	for _, name := range []string{
		CodeAlert, CodeBadCharset, CodeCapability, CodeParse, CodePermanentFlags, CodeReadOnly,
		CodeReadWrite, CodeTryCreate, CodeUIDNext, CodeUIDValidity, CodeUnseen, CodeAppendUID,
		CodeCopyUID, CodeUIDNotSticky, CodeHighestModSeq, CodeNoModSeq, CodeModified, CodeClosed,
		CodeOverQuota, CodeNonExistent, CodeAlreadyExists, CodeLimit, CodeNoPerm, CodeInUse,
		CodeExpungeIssued, CodeCannot, CodeServerBug, CodeClientBug, CodeUnavailable,
		CodeAuthenticationFailed, CodeAuthorizationFailed, CodeExpired, CodePrivacyRequired,
		CodeContactAdmin, CodeCorruption, CodeExpunged, CodeUnknownCTE, CodeUseAttr,
		CodeHasChildren, CodeMetadata, CodeAnnotate, CodeNoUpdate,
	} {
		if !(&RespCode{Name: name}).Known() {
			t.Errorf("%s is not known", name)
		}
	}
	if (&RespCode{Name: "X-FOO"}).Known() {
		t.Error("X-FOO is known")
	}
}

// A known code whose arguments are not what it takes comes back as an
// unknown one, with its text: the response stays usable.
func TestMalformedKnownCode(t *testing.T) {
	for _, in := range []string{
		"[UIDVALIDITY abc]", "[UIDNEXT]", "[UIDNEXT 4294967296]", "[APPENDUID 1]",
		"[COPYUID 1 2]", "[COPYUID 1 0 3]", "[PERMANENTFLAGS (\\Seen]", "[MODIFIED x]",
		"[METADATA LONGENTRIES]", "[HIGHESTMODSEQ]", "[BADCHARSET UTF-8]",
	} {
		d := decoderFor("* OK " + in + " text\r\n* 1 EXISTS\r\n")
		d.ReadAtom()
		d.ReadSP()
		d.ReadAtom()
		code, text, err := d.ReadRespText()
		if err != nil || code == nil || code.Known() || text != "text" {
			t.Errorf("%s: code %+v, text %q, %v", in, code, text, err)
			continue
		}
		if name, raw, _ := strings.Cut(in[1:len(in)-1], " "); code.Name != name || code.Raw != raw || code.Number != 0 || code.List != nil {
			t.Errorf("%s: code %+v", in, code)
		}
		if err := d.ReadCRLF(); err != nil {
			t.Fatal(err)
		}
		if next, _ := d.ReadText(); next != "* 1 EXISTS" {
			t.Errorf("%s: next line %q", in, next)
		}
	}
	for _, in := range []string{"[", "[]", "[ALERT", "[ALERT x\r\n", "[ALERT (\r\n"} {
		_, err := decoderFor(in + "\r\n").ReadRespCode()
		mustProtocolError(t, err)
	}
}

func TestReadRespText(t *testing.T) {
	for _, tc := range []struct {
		in, code, text string
	}{
		{" [UIDNEXT 5] Predicted next UID", "UIDNEXT", "Predicted next UID"},
		{" LOGIN completed", "", "LOGIN completed"},
		{" [READ-WRITE]", "READ-WRITE", ""},
		{" [CLOSED]Previous mailbox closed", "CLOSED", "Previous mailbox closed"},
		{"", "", ""},
		{" ", "", ""},
	} {
		d := decoderFor(tc.in + "\r\n")
		code, text, err := d.ReadRespText()
		name := ""
		if code != nil {
			name = code.Name
		}
		if err != nil || name != tc.code || text != tc.text {
			t.Errorf("%q: code %q text %q, %v", tc.in, name, text, err)
		}
		if err := d.ReadCRLF(); err != nil {
			t.Errorf("%q: %v", tc.in, err)
		}
	}
}
