package imapclient

// Int2AP writes n in base 16 with the letters A to P for the digits
// (imaplib's Int2AP), which imaplib uses for the random prefix of its
// tags: 4096 is "BAAA". As in imaplib, 0 is "".
func Int2AP(n uint64) string {
	var b []byte
	for ; n > 0; n /= 16 {
		b = append(b, 'A'+byte(n%16))
	}
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}
