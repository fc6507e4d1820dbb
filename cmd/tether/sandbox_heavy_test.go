//go:build heavy

package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/sandboxtest"
)

// stdioProbe registers a stdio server running `node -e script` on the real
// binary p and returns what POST /{id}/test answered.
func stdioProbe(t *testing.T, p *proc, script string) string {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Minute}
	do := func(method, path, body string) (int, string) {
		rq, _ := http.NewRequest(method, p.base+path, strings.NewReader(body))
		rq.Header.Set("Content-Type", "application/json")
		rq.Header.Set("x-api-key", "heavy-test-key-0123456789")
		resp, err := client.Do(rq)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	args, err := json.Marshal([]string{"-e", script})
	require.NoError(t, err)
	status, body := do(http.MethodPost, ferniBase, fmt.Sprintf(
		`{"name":"probe-%d","description":"d","transport":"stdio","command":"node","args":%s,"autoConnect":false,"timeout":20000}`,
		time.Now().UnixNano(), args))
	require.Equal(t, http.StatusCreated, status, body)
	id := between(body, `"id":"`, `"`)
	status, body = do(http.MethodPost, ferniBase+"/"+id+"/test", "")
	require.Equal(t, http.StatusOK, status, body)
	return body
}

func between(s, start, end string) string {
	_, after, _ := strings.Cut(s, start)
	v, _, _ := strings.Cut(after, end)
	return v
}

// TestHeavyStdioSandbox is the adversarial review's critical finding, run
// against the real binary as CI runs it (as root, with a sandbox user): a
// tenant's stdio command reads tether's environment, command line, memory,
// keys and database, allocates 4 GiB, and leaves a detached grandchild.
// None of it may work.
func TestHeavyStdioSandbox(t *testing.T) {
	// The database sits in a directory anyone may enter, as under
	// `make run`: hiding must not rely on a 0700 parent.
	dir := sandboxtest.ReadableDir(t)
	db := filepath.Join(dir, "tether.db")
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	key := base64.StdEncoding.EncodeToString(raw)
	env := []string{"TETHER_ENCRYPTION_KEYS=k1:" + key}
	p := startProc(t, db, env, "--stdio-commands", "node", "--stdio-user", sandboxtest.User())
	tetherPID := strconv.Itoa(p.cmd.Process.Pid)
	leaks := []string{key, "TETHER_ENCRYPTION_KEYS", "heavy-test-key-0123456789", "bootstrap-api-key", "SQLite format"}

	cases := []struct{ name, script, want string }{
		{"the reproduction: parent's environ and cmdline",
			`const f=require('fs');console.error(f.readFileSync('/proc/'+process.ppid+'/environ','utf8'),f.readFileSync('/proc/'+process.ppid+'/cmdline','utf8'));process.exit(3)`, ""},
		{"/proc/1/environ",
			`console.error('ENV '+require('fs').readFileSync('/proc/1/environ','utf8').split('\0').join(' '));process.exit(3)`, "ENV PATH="},
		{"tether's pid: environ, cmdline and mem", `const f=require('fs');let r=[];` +
			`for(const n of ['environ','cmdline','mem']){try{const fd=f.openSync('/proc/` + tetherPID + `/'+n,'r');const b=Buffer.alloc(64);f.readSync(fd,b,0,64,null);r.push('READ '+n+' '+b.toString())}catch(e){r.push('DENIED '+n)}}` +
			`console.error(r.join(' | '));process.exit(3)`, "DENIED environ | DENIED cmdline | DENIED mem"},
		{"the database file by path", readBack(db), "EMPTY"},
		{"the database's WAL by path", readBack(db + "-wal"), "EMPTY"},
		{"a 4 GiB allocation",
			`const a=[];for(let i=0;i<64;i++)a.push(Buffer.alloc(64<<20,1));console.error('ALLOCATED 4 GiB');process.exit(3)`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := stdioProbe(t, p, tc.script)
			t.Logf("%s", out)
			for _, l := range leaks {
				assert.NotContains(t, out, l)
			}
			assert.NotContains(t, out, "ALLOCATED")
			assert.Contains(t, out, tc.want)
		})
	}

	t.Run("a detached grandchild", func(t *testing.T) {
		marker := fmt.Sprintf("detached-%d", time.Now().UnixNano())
		half := marker[:5]
		out := stdioProbe(t, p, `require('child_process').spawn('/bin/sh',['-c','sleep 600; :','`+half+`'+'`+marker[5:]+`'],{detached:true,stdio:'ignore'}).unref();`+
			`setTimeout(()=>{console.error('SPAWNED');process.exit(3)},500)`)
		assert.Contains(t, out, "SPAWNED")
		require.Eventually(t, func() bool { return sandboxtest.Processes(marker) == 0 }, time.Minute, 50*time.Millisecond,
			"the grandchild dies with the connection")
	})
}

// TestHeavyStdioKeysFile: a keys file, even one left world-readable, is
// out of the stdio command's reach.
func TestHeavyStdioKeysFile(t *testing.T) {
	dir := sandboxtest.ReadableDir(t)
	db := filepath.Join(dir, "tether.db")
	keys := filepath.Join(dir, "keys")
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	key := base64.StdEncoding.EncodeToString(raw)
	require.NoError(t, os.WriteFile(keys, []byte("k1:"+key+"\n"), 0o600))
	require.NoError(t, os.Chmod(keys, 0o644))
	p := startProc(t, db, nil, "--encryption-keys-file", keys, "--stdio-commands", "node", "--stdio-user", sandboxtest.User())
	out := stdioProbe(t, p, readBack(keys))
	assert.NotContains(t, out, key)
	assert.Contains(t, out, "EMPTY")
}

// readBack is a node script that reports a file's contents on stderr.
func readBack(path string) string {
	return `const f=require('fs');let s;try{s=f.readFileSync('` + path + `','utf8')}catch(e){s='DENIED '+e.code}` +
		`console.error(s.length?'READ '+s.replace(/\s+/g,' ').slice(0,200):'EMPTY');process.exit(3)`
}
