package main

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// scale measures get and list throughput as the number of stored
// connections grows (to show how cost grows with size), each as a ratio to
// the echo baseline measured in the same run.
func scale(tether *child, baseline float64, d time.Duration, c int) error {
	fmt.Printf("\n%-48s %12s %10s\n", "stored connections → throughput", "req/s", "vs echo")
	stored := 0
	var sample []string
	for _, size := range []int{1000, 10000} {
		ids, err := seed(tether, stored, size-stored, c)
		if err != nil {
			return err
		}
		stored = size
		sample = append(sample, ids...)
		get, err := measure(func(n int64) (*http.Request, int) {
			return newReq(http.MethodGet, tether.base+"/api/v2/developers/mcp-servers/"+sample[n%int64(len(sample))], nil), 200
		}, c, d)
		if err != nil {
			return err
		}
		list, err := measure(func(n int64) (*http.Request, int) {
			// Pages spread over the whole table.
			off := (n * 50) % int64(size)
			return newReq(http.MethodGet, fmt.Sprintf("%s/api/v2/developers/mcp-servers?limit=50&offset=%d", tether.base, off), nil), 200
		}, c, d)
		if err != nil {
			return err
		}
		fmt.Printf("%-48s %12.0f %9.3fx\n", fmt.Sprintf("%6d stored: Ferni GET /mcp-servers/{id}", size), get, get/baseline)
		fmt.Printf("%-48s %12.0f %9.3fx\n", fmt.Sprintf("%6d stored: Ferni list, 50 rows, any offset", size), list, list/baseline)
	}
	return nil
}

// seed creates n more connections (named from start) with c clients and
// returns a sample of their ids.
func seed(tether *child, start, n, c int) ([]string, error) {
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
				resp, err := http.DefaultClient.Do(newReq(http.MethodPost, tether.base+"/api/v2/developers/mcp-servers", []byte(body)))
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
