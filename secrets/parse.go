package secrets

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// ParseKeys parses keys written "id:base64", separated by commas or newlines,
// first key primary. It accepts both the --encryption-keys flag form and the
// keys-file form: surrounding spaces, blank lines and '#' comments (to the
// end of the line) are ignored. The base64 may use the standard or URL
// alphabet, with or without padding, and must decode to 32 bytes. Duplicate
// ids and an input with no keys are refused with [ErrInvalidKey].
//
// Errors locate the bad entry by line and position but never quote the
// material, nor an unparseable id (which might be material pasted in the
// wrong place), so they are safe to log.
func ParseKeys(s string) ([]Key, error) {
	var keys []Key
	seen := make(map[string]bool)
	for lineNo, line := range strings.Split(s, "\n") {
		// Neither ids nor base64 contain '#', so cutting at the first one
		// cannot truncate a key.
		line, _, _ = strings.Cut(line, "#")
		for entryNo, entry := range strings.Split(line, ",") {
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			where := fmt.Sprintf("line %d, entry %d", lineNo+1, entryNo+1)
			id, b64, ok := strings.Cut(entry, ":")
			if !ok {
				return nil, fmt.Errorf("%w: %s: want id:base64", ErrInvalidKey, where)
			}
			id, b64 = strings.TrimSpace(id), strings.TrimSpace(b64)
			if !validID(id) {
				return nil, fmt.Errorf("%w: %s: key id must be 1-%d characters of A-Z a-z 0-9 _ -", ErrInvalidKey, where, maxIDLen)
			}
			if seen[id] {
				return nil, fmt.Errorf("%w: %s: duplicate key id %q", ErrInvalidKey, where, id)
			}
			material, ok := decodeBase64(b64)
			if !ok {
				return nil, fmt.Errorf("%w: %s: key %q is not valid base64", ErrInvalidKey, where, id)
			}
			k, err := NewKey(id, material)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			seen[id] = true
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no keys given", ErrInvalidKey)
	}
	return keys, nil
}

// decodeBase64 accepts every common spelling of base64 because keys are
// produced by assorted tools (openssl, Python, shells) and pasted by hand.
// It deliberately drops the decoder's error, which could echo input bytes.
func decodeBase64(s string) ([]byte, bool) {
	if s == "" {
		return nil, false
	}
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		if b, err := enc.Strict().DecodeString(s); err == nil {
			return b, true
		}
	}
	return nil, false
}
