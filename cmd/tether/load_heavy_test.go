//go:build heavy

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// heavyKey is the bootstrap key startProc gives tenant "default".
const heavyKey = "heavy-test-key-0123456789"

// apiClient sends requests from many goroutines to a tether process. It
// never calls FailNow (it runs off the test goroutine): callers get the
// transport error back and count it. Every sampleEvery-th response is
// validated against openapi.yaml (serialised: the validator is not ours to
// trust with concurrency, and validating all would make the client the
// bottleneck).
type apiClient struct {
	base        string
	hc          *http.Client
	sampleEvery int

	vmu   sync.Mutex
	h     *harness // for validate only
	count int
}

func newAPIClient(t *testing.T, base string, sampleEvery int) *apiClient {
	tr := &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: 90 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return &apiClient{
		base:        base,
		hc:          &http.Client{Transport: tr, Timeout: 30 * time.Second},
		sampleEvery: sampleEvery,
		h:           &harness{t: t},
	}
}

// result is one request's outcome.
type result struct {
	status int
	body   []byte
	took   time.Duration
	err    error // transport error
}

func (r result) String() string {
	if r.err != nil {
		return "transport error: " + r.err.Error()
	}
	return fmt.Sprintf("%d %s", r.status, r.body)
}

// call sends body (JSON-encoded unless nil) with key.
func (c *apiClient) call(method, path, key string, body any) result {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return result{err: err}
		}
	}
	rq, err := http.NewRequest(method, c.base+path, bytes.NewReader(payload))
	if err != nil {
		return result{err: err}
	}
	rq.Header.Set("x-api-key", key)
	if payload != nil {
		rq.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := c.hc.Do(rq)
	if err != nil {
		return result{err: err, took: time.Since(start)}
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if err != nil {
		return result{err: err, took: took}
	}
	c.vmu.Lock()
	c.count++
	if c.sampleEvery > 0 && c.count%c.sampleEvery == 0 {
		c.h.validate(method, path, payload, resp, got)
	}
	c.vmu.Unlock()
	return result{status: resp.StatusCode, body: got, took: took}
}

// newTenantKey creates an API key for tenant with the real binary's CLI,
// while the server runs on db.
func newTenantKey(t *testing.T, db, tenant string) string {
	t.Helper()
	bin, err := buildOnce()
	require.NoError(t, err)
	out, err := exec.Command(bin, "apikey", "create", "--tenant", tenant, "--db", db).Output()
	require.NoError(t, err)
	return strings.TrimSpace(string(out))
}

// procStatus reads a field of /proc/<pid>/status in kB ("VmRSS", "VmHWM").
func procStatus(pid int, field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// openSockets counts the process's open sockets (its listener included).
// Database files are left out: the SQLite reader pool grows with load.
func openSockets(pid int) int {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return -1
	}
	n := 0
	for _, e := range entries {
		if target, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.HasPrefix(target, "socket:") {
			n++
		}
	}
	return n
}

// loadDuration is how long TestHeavyLoad runs: TETHER_LOAD_SECONDS, 5 by
// default (make test); make soak sets 30.
func loadDuration(t *testing.T) time.Duration {
	t.Helper()
	v := os.Getenv("TETHER_LOAD_SECONDS")
	if v == "" {
		return 5 * time.Second
	}
	n, err := strconv.ParseFloat(v, 64)
	require.NoError(t, err, "TETHER_LOAD_SECONDS=%q", v)
	require.Positive(t, n, "TETHER_LOAD_SECONDS")
	return time.Duration(n * float64(time.Second))
}

// latencies summarises request durations.
type latencies []time.Duration

func (l latencies) String() string {
	if len(l) == 0 {
		return "none"
	}
	s := slices.Clone(l)
	slices.Sort(s)
	q := func(p float64) time.Duration { return s[int(p*float64(len(s)-1))].Round(100 * time.Microsecond) }
	return fmt.Sprintf("n=%d p50=%v p99=%v max=%v", len(s), q(0.5), q(0.99), s[len(s)-1].Round(100*time.Microsecond))
}

// loadRow is a connection one writer owns, with the values it last wrote.
type loadRow struct {
	id          string
	nickname    string // Feather nickname (a Ferni create sets it to the name)
	description string // Ferni description (a Feather connect sets it to the nickname)
}

// idPool holds recently created ids for the readers.
type idPool struct {
	mu  sync.Mutex
	ids []string
	n   int
}

func (p *idPool) add(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.ids) < 1024 {
		p.ids = append(p.ids, id)
	} else {
		p.ids[p.n%len(p.ids)] = id
	}
	p.n++
}

func (p *idPool) pick(r *rand.Rand) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.ids) == 0 {
		return "00000000-0000-4000-8000-000000000000"
	}
	return p.ids[r.IntN(len(p.ids))]
}

// loadStats collects what the workers saw.
type loadStats struct {
	mu         sync.Mutex
	ops        map[string]int
	writes     latencies
	reads      latencies
	serverErrs []string // 5xx
	transport  []string // transport errors
	unexpected []string // any other status than the one expected
}

func (s *loadStats) record(op string, write bool, r result, want ...int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops[op]++
	if write {
		s.writes = append(s.writes, r.took)
	} else {
		s.reads = append(s.reads, r.took)
	}
	switch {
	case r.err != nil:
		s.transport = append(s.transport, op+": "+r.err.Error())
	case r.status >= 500:
		s.serverErrs = append(s.serverErrs, fmt.Sprintf("%s: %d %.300s", op, r.status, r.body))
	case !slices.Contains(want, r.status):
		s.unexpected = append(s.unexpected, fmt.Sprintf("%s: want %v, got %d %.300s", op, want, r.status, r.body))
	default:
		return true
	}
	return false
}

// TestHeavyLoad runs 50 writers (creates, updates and deletes, mixing both
// dialects on the same rows) and 200 readers (gets and lists of both
// dialects, and another tenant probing the first tenant's ids) against the
// real binary for TETHER_LOAD_SECONDS. It asserts no 5xx, no transport
// error, no status other than the one each operation must get, that every
// worker made progress, and that afterwards the stored rows are exactly
// the ones the writers kept, with the values they last wrote.
func TestHeavyLoad(t *testing.T) {
	const writers, readers = 50, 200
	dur := loadDuration(t)
	// Feather connects sync their tools at once: point them at a real MCP
	// server so background probes and their writes join the load.
	up := newUpstream(t, false)
	t.Setenv("TETHER_ALLOW_CIDRS", "127.0.0.0/8")
	t.Setenv("TETHER_HEALTH_INTERVAL", "0")
	db := filepath.Join(t.TempDir(), "tether.db")
	p := startProc(t, db, nil)
	otherKey := newTenantKey(t, db, "other")
	c := newAPIClient(t, p.base, 25)
	stats := &loadStats{ops: map[string]int{}}
	pool := &idPool{}
	deadline := time.Now().Add(dur)

	var wg sync.WaitGroup
	kept := make([][]*loadRow, writers)
	progress := make([]int, writers+readers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			var live []*loadRow
			for n := 0; time.Now().Before(deadline); n++ {
				progress[w]++
				switch op := rng.IntN(10); {
				case len(live) < 3 || (len(live) < 8 && op < 3):
					live = append(live, loadCreate(c, stats, pool, up.URL(), w, n, rng)...)
				case len(live) >= 8 || op < 6:
					i := rng.IntN(len(live))
					if loadDelete(c, stats, live[i], rng) {
						live = slices.Delete(live, i, i+1)
					}
				default:
					loadUpdate(c, stats, live[rng.IntN(len(live))], n, rng)
				}
			}
			kept[w] = live
		}()
	}
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 2))
			for time.Now().Before(deadline) {
				progress[writers+r]++
				loadRead(c, stats, pool, otherKey, rng)
			}
		}()
	}
	wg.Wait()
	elapsed := dur + time.Since(deadline)

	total := len(stats.reads) + len(stats.writes)
	t.Logf("%d requests in %v: %.0f req/s (%d writes, %.0f/s; %d reads, %.0f/s)", total, elapsed.Round(time.Millisecond),
		float64(total)/elapsed.Seconds(), len(stats.writes), float64(len(stats.writes))/elapsed.Seconds(),
		len(stats.reads), float64(len(stats.reads))/elapsed.Seconds())
	t.Logf("writes: %v", stats.writes)
	t.Logf("reads:  %v", stats.reads)
	ops := make([]string, 0, len(stats.ops))
	for op, n := range stats.ops {
		ops = append(ops, fmt.Sprintf("%s=%d", op, n))
	}
	slices.Sort(ops)
	t.Logf("by operation: %s", strings.Join(ops, " "))
	if hwm, err := procStatus(p.cmd.Process.Pid, "VmHWM"); err == nil {
		t.Logf("tether peak RSS (VmHWM): %d MiB", hwm>>10)
	}

	assert.Empty(t, stats.serverErrs, "no 5xx under load (%d)", len(stats.serverErrs))
	assert.Empty(t, stats.transport, "no transport errors under load (%d)", len(stats.transport))
	assert.Empty(t, stats.unexpected, "every operation gets the status it must (%d)", len(stats.unexpected))
	for i, n := range progress {
		if n == 0 {
			t.Errorf("worker %d never completed a request: starved", i)
		}
	}

	// What is stored is exactly what the writers kept, as they last wrote it.
	want := map[string]*loadRow{}
	for _, rows := range kept {
		for _, r := range rows {
			want[r.id] = r
		}
	}
	list := c.call(http.MethodGet, featherBase, heavyKey, nil)
	require.NoError(t, list.err)
	require.Equal(t, http.StatusOK, list.status)
	var feather []struct{ ID, Nickname string }
	require.NoError(t, json.Unmarshal(list.body, &feather))
	got := map[string]string{}
	for _, r := range feather {
		got[r.ID] = r.Nickname
	}
	require.Len(t, got, len(want), "rows stored vs rows the writers kept")
	for id, r := range want {
		assert.Equal(t, r.nickname, got[id], "nickname of %s", id)
	}
	descs := map[string]string{}
	for offset := 0; ; offset += 100 {
		page := c.call(http.MethodGet, fmt.Sprintf("%s?limit=100&offset=%d", ferniBase, offset), heavyKey, nil)
		require.NoError(t, page.err)
		require.Equal(t, http.StatusOK, page.status, "%s", page.body)
		var v struct {
			Data       []struct{ ID, Description string }
			Pagination struct{ Total int }
		}
		require.NoError(t, json.Unmarshal(page.body, &v))
		require.Equal(t, len(want), v.Pagination.Total)
		for _, d := range v.Data {
			descs[d.ID] = d.Description
		}
		if len(v.Data) < 100 {
			break
		}
	}
	for id, r := range want {
		assert.Equal(t, r.description, descs[id], "description of %s", id)
	}
}

// loadCreate creates one row through either dialect.
func loadCreate(c *apiClient, stats *loadStats, pool *idPool, upstreamURL string, w, n int, rng *rand.Rand) []*loadRow {
	if rng.IntN(2) == 0 {
		name := fmt.Sprintf("fw%d-%d", w, n)
		r := c.call(http.MethodPost, ferniBase, heavyKey, map[string]any{
			"name": name, "description": "created " + name, "transport": "http",
			"endpoint": "https://mcp.example.invalid/mcp", "autoConnect": false,
			"headers": map[string]any{"X-API-Key": "{{secrets.K}}"}, "secrets": map[string]any{"K": "v0"},
		})
		if !stats.record("ferni.create", true, r, http.StatusCreated) {
			return nil
		}
		var v struct{ Data struct{ ID string } }
		if json.Unmarshal(r.body, &v) != nil || v.Data.ID == "" {
			stats.record("ferni.create.decode", true, result{status: 599, body: r.body})
			return nil
		}
		pool.add(v.Data.ID)
		return []*loadRow{{id: v.Data.ID, nickname: name, description: "created " + name}}
	}
	nick := fmt.Sprintf("Load W%d %d", w, n)
	r := c.call(http.MethodPost, featherBase+"/custom-mcp", heavyKey, map[string]any{
		"nickname": nick, "server_url": upstreamURL, "transport": "streamable_http",
		"auth_type": "bearer", "token": "tok-" + strconv.Itoa(n),
	})
	if !stats.record("feather.connect", true, r, http.StatusCreated) {
		return nil
	}
	var v struct {
		ConnectionID string `json:"connection_id"`
	}
	if json.Unmarshal(r.body, &v) != nil || v.ConnectionID == "" {
		stats.record("feather.connect.decode", true, result{status: 599, body: r.body})
		return nil
	}
	pool.add(v.ConnectionID)
	return []*loadRow{{id: v.ConnectionID, nickname: nick, description: nick}}
}

// loadUpdate changes a row through either dialect, whichever created it.
func loadUpdate(c *apiClient, stats *loadStats, row *loadRow, n int, rng *rand.Rand) {
	if rng.IntN(2) == 0 {
		desc := fmt.Sprintf("updated %d", n)
		r := c.call(http.MethodPut, ferniBase+"/"+row.id, heavyKey, map[string]any{
			"description": desc, "secrets": map[string]any{"K": "v" + strconv.Itoa(n)},
		})
		if stats.record("ferni.put", true, r, http.StatusOK) {
			row.description = desc
		}
		return
	}
	nick := fmt.Sprintf("Renamed %d", n)
	r := c.call(http.MethodPatch, featherBase+"/"+row.id, heavyKey, map[string]any{"nickname": nick})
	if stats.record("feather.patch", true, r, http.StatusOK) {
		row.nickname = nick
	}
}

// loadDelete deletes a row through either dialect; it reports whether the
// row is gone.
func loadDelete(c *apiClient, stats *loadStats, row *loadRow, rng *rand.Rand) bool {
	if rng.IntN(2) == 0 {
		return stats.record("ferni.delete", true, c.call(http.MethodDelete, ferniBase+"/"+row.id, heavyKey, nil), http.StatusOK)
	}
	return stats.record("feather.delete", true, c.call(http.MethodDelete, featherBase+"/"+row.id, heavyKey, nil), http.StatusNoContent)
}

// loadRead does one read: a list, a get (the row may have been deleted
// meanwhile), or another tenant trying the first tenant's ids.
func loadRead(c *apiClient, stats *loadStats, pool *idPool, otherKey string, rng *rand.Rand) {
	switch rng.IntN(8) {
	case 0:
		stats.record("ferni.list", false, c.call(http.MethodGet, fmt.Sprintf("%s?limit=50&offset=%d", ferniBase, rng.IntN(100)), heavyKey, nil), http.StatusOK)
	case 1:
		stats.record("ferni.list.status", false, c.call(http.MethodGet, ferniBase+"?status=active&limit=10", heavyKey, nil), http.StatusOK)
	case 2:
		stats.record("feather.list", false, c.call(http.MethodGet, fmt.Sprintf("%s?limit=20&offset=%d", featherBase, rng.IntN(100)), heavyKey, nil), http.StatusOK)
	case 3:
		stats.record("ferni.get", false, c.call(http.MethodGet, ferniBase+"/"+pool.pick(rng), heavyKey, nil), http.StatusOK, http.StatusNotFound)
	case 4:
		stats.record("ferni.tools", false, c.call(http.MethodGet, ferniBase+"/"+pool.pick(rng)+"/tools", heavyKey, nil), http.StatusOK, http.StatusNotFound)
	case 5, 6:
		stats.record("feather.get", false, c.call(http.MethodGet, featherBase+"/"+pool.pick(rng), heavyKey, nil), http.StatusOK, http.StatusNotFound)
	case 7:
		if rng.IntN(2) == 0 {
			stats.record("other-tenant.ferni.get", false, c.call(http.MethodGet, ferniBase+"/"+pool.pick(rng), otherKey, nil), http.StatusNotFound)
		} else {
			stats.record("other-tenant.feather.get", false, c.call(http.MethodGet, featherBase+"/"+pool.pick(rng), otherKey, nil), http.StatusNotFound)
		}
	}
}
