package clientcert

// URLEncode appends src to dst, percent-encoding every byte except
// A–Z a–z 0–9 - _ . ~ and + = /, which stay literal (ALB's encoding of
// certificate headers). Hex digits are upper case: a newline is "%0A", a
// space "%20". It allocates only when dst lacks room.
//
// Because '+' stays literal, the result must be decoded with path
// unescaping (url.PathUnescape), not form unescaping, which would turn '+'
// into a space.
func URLEncode(dst, src []byte) []byte {
	const hexDigits = "0123456789ABCDEF"
	n := len(src)
	for _, c := range src {
		if !literal(c) {
			n += 2
		}
	}
	if free := cap(dst) - len(dst); free < n {
		grown := make([]byte, len(dst), len(dst)+n)
		copy(grown, dst)
		dst = grown
	}
	for _, c := range src {
		if literal(c) {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', hexDigits[c>>4], hexDigits[c&0x0f])
		}
	}
	return dst
}

// literal reports whether URLEncode leaves c as it is.
func literal(c byte) bool {
	switch {
	case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '_', '.', '~', '+', '=', '/':
		return true
	}
	return false
}
