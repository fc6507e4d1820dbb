package secrets_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/secrets"
)

// keyMaterial extracts a key's material through FormatKey, the package's
// only exit for it.
func keyMaterial(t *testing.T, k secrets.Key) []byte {
	t.Helper()
	_, b64, ok := strings.Cut(secrets.FormatKey(k), ":")
	require.True(t, ok)
	m, err := base64.StdEncoding.DecodeString(b64)
	require.NoError(t, err)
	return m
}

// testMaterial has bytes that encode to '+' and '/' in standard base64 (and
// '-' and '_' in the URL alphabet), so alphabet handling is exercised.
func testMaterial(seed byte) []byte {
	m := make([]byte, secrets.KeySize)
	for i := range m {
		m[i] = 0xfb ^ byte(i) ^ seed
	}
	m[0], m[1], m[2] = 0xfb, 0xff, 0xbf
	return m
}

// materialForms lists renderings of m that must never appear in output.
func materialForms(m []byte) []string {
	return []string{
		base64.StdEncoding.EncodeToString(m),
		base64.RawStdEncoding.EncodeToString(m)[:20],
		base64.URLEncoding.EncodeToString(m),
		base64.RawURLEncoding.EncodeToString(m)[:20],
		hex.EncodeToString(m)[:20],
		strings.ToUpper(hex.EncodeToString(m))[:20],
		string(m[:12]),
		strings.Trim(fmt.Sprint(m[:8]), "[]"),
		strings.Trim(fmt.Sprintf("%#v", m[:4]), "[]byte{}"),
	}
}

func assertNoMaterial(t *testing.T, out string, m []byte) {
	t.Helper()
	for _, form := range materialForms(m) {
		assert.NotContains(t, out, form)
	}
}

func TestNewKey(t *testing.T) {
	tests := []struct {
		name     string
		id       string
		material []byte
		wantErr  bool
	}{
		{name: "ok", id: "k1", material: testMaterial(1)},
		{name: "all allowed characters", id: "aZ09_-", material: testMaterial(1)},
		{name: "32-char id", id: strings.Repeat("a", 32), material: testMaterial(1)},
		{name: "empty id", id: "", material: testMaterial(1), wantErr: true},
		{name: "33-char id", id: strings.Repeat("a", 33), material: testMaterial(1), wantErr: true},
		{name: "colon in id", id: "k:1", material: testMaterial(1), wantErr: true},
		{name: "space in id", id: "k 1", material: testMaterial(1), wantErr: true},
		{name: "non-ascii id", id: "clé", material: testMaterial(1), wantErr: true},
		{name: "short material", id: "k1", material: make([]byte, 16), wantErr: true},
		{name: "long material", id: "k1", material: make([]byte, 33), wantErr: true},
		{name: "no material", id: "k1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := secrets.NewKey(tt.id, tt.material)
			if tt.wantErr {
				require.ErrorIs(t, err, secrets.ErrInvalidKey)
				if len(tt.material) > 0 {
					assertNoMaterial(t, err.Error(), tt.material)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.id, k.ID)
			assert.Equal(t, tt.material, keyMaterial(t, k))
		})
	}
}

func TestNewKeyCopiesMaterial(t *testing.T) {
	m := testMaterial(1)
	k, err := secrets.NewKey("k1", m)
	require.NoError(t, err)
	m[0] ^= 0xff
	assert.Equal(t, testMaterial(1), keyMaterial(t, k))
}

func TestGenerateKey(t *testing.T) {
	a, err := secrets.GenerateKey("a")
	require.NoError(t, err)
	b, err := secrets.GenerateKey("b")
	require.NoError(t, err)
	assert.Len(t, keyMaterial(t, a), secrets.KeySize)
	assert.NotEqual(t, keyMaterial(t, a), keyMaterial(t, b))
	assert.NotEqual(t, make([]byte, secrets.KeySize), keyMaterial(t, a))

	_, err = secrets.GenerateKey("bad id")
	require.ErrorIs(t, err, secrets.ErrInvalidKey)
}

func TestNewKeyID(t *testing.T) {
	now := time.Date(2026, 11, 21, 23, 30, 0, 0, time.FixedZone("X", -5*3600))
	id := secrets.NewKeyID(now)
	// The date is UTC: 23:30 at UTC-5 is already the 22nd.
	assert.Regexp(t, regexp.MustCompile(`^k20261122[0-9a-f]{6}$`), id)
	assert.NotEqual(t, id, secrets.NewKeyID(now))
	_, err := secrets.GenerateKey(id)
	require.NoError(t, err, "generated ids must be valid key ids")
}

func TestFormatKey(t *testing.T) {
	m := testMaterial(1)
	k, err := secrets.NewKey("k1", m)
	require.NoError(t, err)
	assert.Equal(t, "k1:"+base64.StdEncoding.EncodeToString(m), secrets.FormatKey(k))
	assert.Empty(t, secrets.FormatKey(secrets.Key{ID: "k1"}))

	back, err := secrets.ParseKeys(secrets.FormatKey(k))
	require.NoError(t, err)
	require.Len(t, back, 1)
	assert.Equal(t, secrets.FormatKey(k), secrets.FormatKey(back[0]))
}

func TestParseKeys(t *testing.T) {
	m1, m2 := testMaterial(1), testMaterial(2)
	std1 := base64.StdEncoding.EncodeToString(m1)
	std2 := base64.StdEncoding.EncodeToString(m2)
	require.Contains(t, std1, "+")
	require.Contains(t, std1, "/")
	url1 := base64.URLEncoding.EncodeToString(m1)
	rawStd1 := base64.RawStdEncoding.EncodeToString(m1)
	rawURL1 := base64.RawURLEncoding.EncodeToString(m1)
	short := base64.StdEncoding.EncodeToString(m1[:16])
	long := base64.StdEncoding.EncodeToString(append(bytes.Clone(m1), 0))

	tests := []struct {
		name    string
		in      string
		wantIDs []string
		wantMat [][]byte
		secret  string // must not appear in the error
	}{
		{name: "one std padded", in: "k1:" + std1, wantIDs: []string{"k1"}, wantMat: [][]byte{m1}},
		{name: "std unpadded", in: "k1:" + rawStd1, wantIDs: []string{"k1"}, wantMat: [][]byte{m1}},
		{name: "url padded", in: "k1:" + url1, wantIDs: []string{"k1"}, wantMat: [][]byte{m1}},
		{name: "url unpadded", in: "k1:" + rawURL1, wantIDs: []string{"k1"}, wantMat: [][]byte{m1}},
		{name: "flag list, primary first", in: "new:" + std2 + ",old:" + std1, wantIDs: []string{"new", "old"}, wantMat: [][]byte{m2, m1}},
		{name: "spaces and trailing comma", in: " new : " + std2 + " , old:" + std1 + ",", wantIDs: []string{"new", "old"}, wantMat: [][]byte{m2, m1}},
		{
			name:    "keys file",
			in:      "# tether keys\n\nnew:" + std2 + "\r\n  # retired soon\nold:" + std1 + "  # inline comment\n\n",
			wantIDs: []string{"new", "old"}, wantMat: [][]byte{m2, m1},
		},
		{name: "empty", in: ""},
		{name: "only comments", in: "# nothing\n\n   \n"},
		{name: "no id", in: std1, secret: std1},
		{name: "empty id", in: ":" + std1, secret: std1},
		{name: "bad id", in: "k 1:" + std1, secret: std1},
		{name: "id too long", in: strings.Repeat("k", 33) + ":" + std1, secret: std1},
		{name: "material in id position", in: std1[:30] + ":" + std2, secret: std1[:30]},
		{name: "bad base64", in: "k1:" + std1[:20] + "!!" + std1[22:], secret: std1[:20]},
		{name: "mixed alphabets", in: "k1:" + strings.Replace(std1, "+", "-", 1), secret: std1[:20]},
		{name: "empty material", in: "k1:"},
		{name: "wrong length short", in: "k1:" + short, secret: short},
		{name: "wrong length long", in: "k1:" + long, secret: long[:40]},
		{name: "duplicate ids", in: "k1:" + std1 + "\nk1:" + std2, secret: std2},
		{name: "second entry bad", in: "k1:" + std1 + ",k2:" + std2[:10], secret: std1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := secrets.ParseKeys(tt.in)
			if tt.wantIDs == nil {
				require.ErrorIs(t, err, secrets.ErrInvalidKey)
				assert.Nil(t, keys)
				if tt.secret != "" {
					assert.NotContains(t, err.Error(), tt.secret)
				}
				assertNoMaterial(t, err.Error(), m1)
				assertNoMaterial(t, err.Error(), m2)
				return
			}
			require.NoError(t, err)
			require.Len(t, keys, len(tt.wantIDs))
			for i, k := range keys {
				assert.Equal(t, tt.wantIDs[i], k.ID)
				assert.Equal(t, tt.wantMat[i], keyMaterial(t, k))
			}
			_, err = secrets.NewKeyring(keys)
			require.NoError(t, err)
		})
	}
}

func TestParseKeysErrorsLocateTheEntry(t *testing.T) {
	std := base64.StdEncoding.EncodeToString(testMaterial(1))
	_, err := secrets.ParseKeys("a:" + std + "\n# c\nb:" + std + ",c:bad")
	require.ErrorIs(t, err, secrets.ErrInvalidKey)
	assert.Contains(t, err.Error(), "line 3, entry 2")
	assert.Contains(t, err.Error(), `"c"`)
}

func TestKeyRedactsItself(t *testing.T) {
	m := testMaterial(7)
	k, err := secrets.NewKey("k-visible", m)
	require.NoError(t, err)

	type exported struct {
		Name string
		Key  secrets.Key
	}
	type unexported struct {
		name string
		key  secrets.Key
	}
	outs := map[string]string{
		"String":   k.String(),
		"GoString": k.GoString(),
		"%v":       fmt.Sprintf("%v", k),
		"%+v":      fmt.Sprintf("%+v", k),
		"%#v":      fmt.Sprintf("%#v", k),
		"%s":       fmt.Sprintf("%s", k),
		"%q":       fmt.Sprintf("%q", k),
		"%x":       fmt.Sprintf("%x", k),
		"%X":       fmt.Sprintf("%X", k),
		"%d":       fmt.Sprintf("%d", k),
		"pointer":  fmt.Sprintf("%+v", &k),
		"slice":    fmt.Sprintf("%v %+v %#v", []secrets.Key{k}, []secrets.Key{k}, []secrets.Key{k}),
		"exported": fmt.Sprintf("%v %+v %#v", exported{"n", k}, exported{"n", k}, exported{"n", k}),
		// fmt cannot call methods on unexported fields and walks them
		// instead; the material pointer then prints as an address.
		"unexported": fmt.Sprintf("%v %+v %#v", unexported{"n", k}, unexported{"n", k}, unexported{"n", k}),
	}

	b, err := json.Marshal(k)
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"k-visible"}`, string(b))
	outs["json"] = string(b)
	b, err = json.Marshal(exported{"n", k})
	require.NoError(t, err)
	outs["json nested"] = string(b)

	var jsonLog, textLog bytes.Buffer
	for _, h := range []slog.Handler{
		slog.NewJSONHandler(&jsonLog, &slog.HandlerOptions{Level: slog.LevelDebug}),
		slog.NewTextHandler(&textLog, &slog.HandlerOptions{Level: slog.LevelDebug}),
	} {
		log := slog.New(h)
		log.Info("loaded key", "key", k, slog.Any("ptr", &k), "keys", []secrets.Key{k}, "holder", exported{"n", k})
		log.With("key", k).Debug("with")
		log.Info("group", slog.Group("g", "key", k))
	}
	outs["slog json"] = jsonLog.String()
	outs["slog text"] = textLog.String()

	for name, out := range outs {
		t.Run(name, func(t *testing.T) {
			assertNoMaterial(t, out, m)
		})
	}
	for _, name := range []string{"String", "%v", "%+v", "%#v", "json", "slog json", "slog text"} {
		assert.Contains(t, outs[name], "k-visible", "%s should still name the key", name)
	}

	// The JSON log is parseable and carries the id where the key was logged.
	first, _, _ := strings.Cut(jsonLog.String(), "\n")
	var rec map[string]any
	require.NoError(t, json.Unmarshal([]byte(first), &rec))
	assert.Equal(t, map[string]any{"id": "k-visible", "material": "redacted"}, rec["key"])
}

func TestKeyringRedactsItself(t *testing.T) {
	m := testMaterial(9)
	k, err := secrets.NewKey("k1", m)
	require.NoError(t, err)
	r := mustRing(t, k)
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("ring", "ring", r)
	for _, out := range []string{
		fmt.Sprintf("%v %+v %#v %s", r, r, r, r),
		fmt.Sprintf("%+v %#v", *r, *r),
		buf.String(),
	} {
		assertNoMaterial(t, out, m)
	}
	assert.Contains(t, buf.String(), `"primary":"k1"`)
}
