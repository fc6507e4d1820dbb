package mcpclient

import (
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// A server can spell a secret so that a plain search misses it and a
// reader still finds it: inside a string that is itself JSON (a text
// content holding a JSON document, a structured field holding an encoded
// one), "\u0073ecret" or "a\/b" is the secret to anyone who decodes it,
// and agents do. So a string with a backslash is also searched as it
// decodes, one level of JSON string escapes at a time, and what matches is
// cut from the string as written: the escapes around it stay, and a JSON
// text stays JSON.

// maxUnescape bounds the levels of escaping looked through ("\\u0073" is
// "s" after two).
const maxUnescape = 4

// scrub redacts s, reporting whether anything changed.
func (r *redactor) scrub(s string) (string, bool) {
	if !r.active() {
		return s, false
	}
	if strings.IndexByte(s, '\\') >= 0 {
		return r.scrubEscaped(s)
	}
	if !r.holds(s) {
		return s, false
	}
	for _, v := range r.values {
		s = strings.ReplaceAll(s, v, "***")
	}
	return s, true
}

// span is a part of a string to cut, [start, end) in bytes.
type span struct{ start, end int }

// scrubEscaped redacts s as written and as it decodes. Most such strings
// (JSON in a text, its quotes escaped) hold no secret: they are decoded
// once per level to find out, and only a string that does hold one is
// decoded again, keeping track of where each byte came from.
func (r *redactor) scrubEscaped(s string) (string, bool) {
	if !r.holdsDecoded(s) {
		return s, false
	}
	var spans []span
	cur := s
	var offs []int32 // where each byte of cur comes from in s; nil: cur is s
	for level := 0; ; level++ {
		spans = r.find(cur, offs, spans)
		if level == maxUnescape || strings.IndexByte(cur, '\\') < 0 {
			break
		}
		dec, m, ok := unescape(cur, true)
		if !ok {
			break
		}
		if offs != nil {
			for i, o := range m {
				m[i] = offs[o]
			}
		}
		cur, offs = dec, m
	}
	if len(spans) == 0 {
		return s, false
	}
	slices.SortFunc(spans, func(a, b span) int { return a.start - b.start })
	var b strings.Builder
	b.Grow(len(s))
	at := 0
	for i := 0; i < len(spans); {
		start, end := spans[i].start, spans[i].end
		for i++; i < len(spans) && spans[i].start <= end; i++ {
			end = max(end, spans[i].end)
		}
		b.WriteString(s[at:start])
		b.WriteString("***")
		at = end
	}
	b.WriteString(s[at:])
	return b.String(), true
}

// holdsDecoded reports whether s holds a redacted value, as written or
// after up to maxUnescape levels of decoding.
func (r *redactor) holdsDecoded(s string) bool {
	for level := 0; ; level++ {
		if r.holds(s) {
			return true
		}
		if level == maxUnescape || strings.IndexByte(s, '\\') < 0 {
			return false
		}
		dec, _, ok := unescape(s, false)
		if !ok {
			return false
		}
		s = dec
	}
}

// find appends the spans of s where a redacted value occurs, mapped to the
// original string through offs.
func (r *redactor) find(s string, offs []int32, spans []span) []span {
	for _, v := range r.values {
		for i := 0; ; {
			j := strings.Index(s[i:], v)
			if j < 0 {
				break
			}
			start, end := i+j, i+j+len(v)
			if offs != nil {
				start, end = int(offs[start]), int(offs[end])
			}
			spans = append(spans, span{start, end})
			i += j + len(v)
		}
	}
	return spans
}

// unescape decodes the JSON string escapes in s (\" \\ \/ \b \f \n \r \t
// \uXXXX, surrogate pairs included); anything else stays as it is. With
// track, offs holds, for each byte of the result, the offset in s of the
// escape or byte it comes from, and len(s) at offs[len(out)] (int32: a
// message is capped far below 2 GiB). ok is false when s holds no escape.
func unescape(s string, track bool) (out string, offs []int32, ok bool) {
	buf := make([]byte, 0, len(s))
	if track {
		offs = make([]int32, 0, len(s)+1)
	}
	// emit appends p, which comes from s[from:]; with one, each byte of p
	// comes from its own byte of s, else all from the escape at from.
	emit := func(from int, p string, one bool) {
		buf = append(buf, p...)
		if track {
			for j := range len(p) { // bytes, not runes
				if one {
					offs = append(offs, int32(from+j))
				} else {
					offs = append(offs, int32(from))
				}
			}
		}
	}
	for i := 0; i < len(s); {
		n := strings.IndexByte(s[i:], '\\')
		if n < 0 {
			n = len(s) - i
		}
		if n > 0 {
			emit(i, s[i:i+n], true)
			i += n
			continue
		}
		// s[i] is a backslash.
		if i+1 < len(s) {
			switch c := s[i+1]; c {
			case '"', '\\', '/':
				emit(i, s[i+1:i+2], false)
				i += 2
				ok = true
				continue
			case 'b', 'f', 'n', 'r', 't':
				emit(i, controlEscapes[c], false)
				i += 2
				ok = true
				continue
			case 'u':
				if ru, n := decodeU(s[i:]); n > 0 {
					emit(i, string(ru), false)
					i += n
					ok = true
					continue
				}
			}
		}
		emit(i, s[i:i+1], true)
		i++
	}
	if track {
		offs = append(offs, int32(len(s)))
	}
	return string(buf), offs, ok
}

var controlEscapes = map[byte]string{'b': "\b", 'f': "\f", 'n': "\n", 'r': "\r", 't': "\t"}

// decodeU decodes a \uXXXX escape at the start of s, and the low half
// that follows a high surrogate; n is the bytes read, 0 when s does not
// start with one.
func decodeU(s string) (rune, int) {
	r1, ok := hex4(s)
	if !ok {
		return 0, 0
	}
	if utf16.IsSurrogate(r1) {
		if r2, ok := hex4(s[6:]); ok {
			if ru := utf16.DecodeRune(r1, r2); ru != utf8.RuneError {
				return ru, 12
			}
		}
		return utf8.RuneError, 6
	}
	return r1, 6
}

// hex4 reads "\uXXXX" at the start of s.
func hex4(s string) (rune, bool) {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[2:6]) {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}
