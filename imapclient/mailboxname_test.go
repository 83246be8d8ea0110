package imapclient

import "testing"

func TestMailboxName(t *testing.T) {
	enc, err := EncodeMailboxName("Entwürfe/日本語 & more")
	if err != nil || enc != "Entw&APw-rfe/&ZeVnLIqe- &- more" {
		t.Fatalf("EncodeMailboxName: %q, %v", enc, err)
	}
	dec, err := DecodeMailboxName(enc)
	if err != nil || dec != "Entwürfe/日本語 & more" {
		t.Fatalf("DecodeMailboxName: %q, %v", dec, err)
	}
	if _, err := DecodeMailboxName("&Jjo"); err == nil {
		t.Fatal("unterminated shift accepted")
	}
	if _, err := EncodeMailboxName("\xff"); err == nil {
		t.Fatal("invalid UTF-8 accepted")
	}
}
