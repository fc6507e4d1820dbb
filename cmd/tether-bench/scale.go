package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// listScenario lists the 50 rows of the default tenant (the creates come
// after it): the list of 50 that the scale figures compare with.
const listScenario = "Ferni GET /mcp-servers?limit=50 (50 rows)"

// scale measures get and list throughput as the number of stored
// connections grows (to show how cost grows with size), each as a ratio to
// the echo baseline measured in the same run, and each list also as a
// ratio to the list of 50 rows of 50 (list50). The rows are a tenant's
// own, so that the tenant holds exactly the number shown.
func scale(tether *child, baseline, list50 float64, d time.Duration, c int) error {
	key, err := createKey(tether, "scale")
	if err != nil {
		return err
	}
	fmt.Printf("\n%-48s %12s %10s %10s\n", "stored connections → throughput", "req/s", "vs echo", "vs list50")
	stored := 0
	var sample []string
	for _, size := range []int{1000, 10000} {
		ids, err := seed(tether, key, stored, size-stored, c)
		if err != nil {
			return err
		}
		stored = size
		sample = append(sample, ids...)
		get, err := measure(func(n int64) (*http.Request, int) {
			return newReqAs(key, http.MethodGet, tether.base+"/api/v2/developers/mcp-servers/"+sample[n%int64(len(sample))], nil), 200
		}, c, d)
		if err != nil {
			return err
		}
		list, err := measure(func(n int64) (*http.Request, int) {
			// Pages spread over the whole table.
			off := (n * 50) % int64(size)
			return newReqAs(key, http.MethodGet, fmt.Sprintf("%s/api/v2/developers/mcp-servers?limit=50&offset=%d", tether.base, off), nil), 200
		}, c, d)
		if err != nil {
			return err
		}
		fmt.Printf("%-48s %12.0f %9.3fx\n", fmt.Sprintf("%6d stored: Ferni GET /mcp-servers/{id}", size), get, get/baseline)
		vsList50 := "—"
		if list50 > 0 {
			vsList50 = fmt.Sprintf("%.2fx", list/list50)
		}
		fmt.Printf("%-48s %12.0f %9.3fx %10s\n", fmt.Sprintf("%6d stored: Ferni list, 50 rows, any offset", size), list, list/baseline, vsList50)
	}
	return nil
}

// createKey makes an API key for tenant with the admin command, which
// works while tether serves.
func createKey(tether *child, tenant string) (string, error) {
	var out, errOut bytes.Buffer
	cmd := exec.Command(tether.bin, "apikey", "create", "--tenant", tenant, "--db", tether.db)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("apikey create: %w: %s", err, errOut.String())
	}
	return strings.TrimSpace(out.String()), nil
}

// seed creates n more connections (named from start) with c clients and
// returns a sample of their ids.
func seed(tether *child, key string, start, n, c int) ([]string, error) {
	var next atomic.Int64
	next.Store(int64(start))
	end := int64(start + n)
	var mu sync.Mutex
	var ids []string
	var firstErr error
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= end {
					return
				}
				body := fmt.Sprintf(`{"name":"scale-%d","description":"d","transport":"http","endpoint":"https://mcp.example.com/mcp","autoConnect":false,"headers":{"X-Key":"{{secrets.K}}"},"secrets":{"K":"v"}}`, i)
				resp, err := http.DefaultClient.Do(newReqAs(key, http.MethodPost, tether.base+"/api/v2/developers/mcp-servers", []byte(body)))
				var v struct{ Data struct{ ID string } }
				if err == nil {
					err = decodeJSON(resp, &v)
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if err == nil && i%97 == 0 {
					ids = append(ids, v.Data.ID)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	return ids, firstErr
}
