package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// Rate is a request budget: N requests per Per. The zero Rate is no limit.
type Rate struct {
	N   int
	Per time.Duration
}

// ParseRate reads "600/m", "10/s", "1000/h" or "50/30s"; "" or "off" is no limit.
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "off" {
		return Rate{}, nil
	}
	num, unit, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if !ok || err != nil || n <= 0 {
		return Rate{}, fmt.Errorf("rate %q: want N/unit, e.g. 600/m", s)
	}
	var per time.Duration
	switch unit = strings.TrimSpace(unit); unit {
	case "s", "sec", "second":
		per = time.Second
	case "m", "min", "minute":
		per = time.Minute
	case "h", "hour":
		per = time.Hour
	default:
		if per, err = time.ParseDuration(unit); err != nil || per <= 0 {
			return Rate{}, fmt.Errorf("rate %q: unit must be s, m, h or a duration", s)
		}
	}
	return Rate{N: n, Per: per}, nil
}

// RateCounter keeps the request counts of several tether processes in
// one place (the PostgreSQL store), so that a key's budget is one budget
// across the fleet. Windows are fixed and aligned to the counter's own
// clock (multiples of per since the epoch), so that every replica agrees
// where one ends.
type RateCounter interface {
	// TakeRate spends n of key's budget in budget name, all or none, when
	// it stays within limit per per. It reports whether it did, the count
	// of the window afterwards (before, when refused), and the time until
	// the window resets.
	TakeRate(ctx context.Context, name, key string, n, limit int, per time.Duration) (ok bool, used int, reset time.Duration, err error)
}

// limiter counts requests per key in fixed windows. A fixed window gives
// clients exact X-RateLimit-Reset and Retry-After values.
type limiter struct {
	rate Rate
	now  func() time.Time
	// shared, when set, holds the counts instead (fleet-wide), under name.
	shared RateCounter
	name   string
	log    *slog.Logger

	mu      sync.Mutex
	windows map[string]*window
}

type window struct {
	start time.Time
	n     int
}

func newLimiter(r Rate, shared RateCounter, name string, log *slog.Logger) *limiter {
	if r.N == 0 {
		return nil
	}
	return &limiter{rate: r, now: time.Now, windows: map[string]*window{}, shared: shared, name: name, log: log}
}

// take spends n requests of key's budget, all or none. It reports whether
// the request is allowed, what is left, and how long until the window
// resets.
func (l *limiter) take(ctx context.Context, key string, n int) (ok bool, remaining int, reset time.Duration) {
	if l.shared != nil {
		ok, used, reset, err := l.shared.TakeRate(ctx, l.name, key, n, l.rate.N, l.rate.Per)
		if err == nil {
			return ok, max(l.rate.N-used, 0), reset
		}
		// The budget protects upstreams; a database that cannot count
		// fails the request's own work anyway. Count here meanwhile.
		l.log.WarnContext(ctx, "fleet rate limit unavailable; counting in this replica", "error", err.Error())
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.windows[key]
	if w == nil || now.Sub(w.start) >= l.rate.Per {
		if len(l.windows) > 10000 {
			l.sweep(now)
		}
		w = &window{start: now}
		l.windows[key] = w
	}
	reset = w.start.Add(l.rate.Per).Sub(now)
	if w.n+n > l.rate.N {
		return false, l.rate.N - w.n, reset
	}
	w.n += n
	return true, l.rate.N - w.n, reset
}

// sweep drops expired windows so idle keys do not accumulate.
func (l *limiter) sweep(now time.Time) {
	for k, w := range l.windows {
		if now.Sub(w.start) >= l.rate.Per {
			delete(l.windows, k)
		}
	}
}

// probeRoutes are the operations that cost outbound work and spend the
// probe budget too.
var probeRoutes = map[string]bool{
	"POST " + ferniPrefix + "mcp-servers/:id/test":                        true,
	"POST " + featherPrefix + "/connections/:connection_id/refresh-tools": true,
	"POST " + featherPrefix + "/connections/:connection_id/test-mcp-call": true,
	"POST " + featherPrefix + "/tools/:slug/invoke":                       true,
}

// rateLimit applies the per-key budgets; it runs after authenticate.
func (s *Server) rateLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		key := apiKeyID(c.Request().Context())
		if key == "" || (s.limit == nil && s.probeLimit == nil) {
			return next(c)
		}
		l, cost := s.limit, 1
		if n := s.probeCost(c); n > 0 {
			// The probe budget is spent only by requests the general
			// budget lets through.
			if s.limit != nil {
				if ok, _, reset := s.limit.take(c.Request().Context(), key, 1); !ok {
					return s.limited(c, s.limit, 0, reset)
				}
			}
			l, cost = s.probeLimit, n
		}
		if l == nil {
			return next(c)
		}
		ok, remaining, reset := l.take(c.Request().Context(), key, cost)
		setRateHeaders(c, l.rate.N, remaining, reset)
		if !ok && cost > l.rate.N {
			// Waiting would not help: send fewer calls per batch.
			return failure(errRateLimited, "this request holds %d tool calls, more than the budget of %d per %s", cost, l.rate.N, l.rate.Per)
		}
		if !ok {
			return s.limited(c, l, remaining, reset)
		}
		return next(c)
	}
}

// probeCost is how much of the probe budget a request spends: one for a
// probe route, one per tools/call for /mcp, zero for anything else (and
// when there is no probe budget).
func (s *Server) probeCost(c echo.Context) int {
	r := c.Request()
	if s.probeLimit == nil {
		return 0
	}
	if probeRoutes[r.Method+" "+c.Path()] {
		return 1
	}
	if r.Method != http.MethodPost || c.Path() != mcpPath || r.GetBody == nil {
		return 0
	}
	body, err := r.GetBody()
	if err != nil {
		return 0
	}
	defer body.Close()
	data, err := io.ReadAll(body)
	if err != nil {
		return 0
	}
	return mcpToolCalls(data)
}

func setRateHeaders(c echo.Context, limit, remaining int, reset time.Duration) {
	h := c.Response().Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Reset", strconv.Itoa(ceilSeconds(reset)))
}

func (s *Server) limited(c echo.Context, l *limiter, remaining int, reset time.Duration) error {
	setRateHeaders(c, l.rate.N, remaining, reset)
	c.Response().Header().Set("Retry-After", strconv.Itoa(ceilSeconds(reset)))
	return failure(errRateLimited, "rate limit of %d requests per %s exceeded; retry in %d s", l.rate.N, l.rate.Per, ceilSeconds(reset))
}

func ceilSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// mcpToolCalls counts the tools/call requests in an MCP POST body, each of
// which costs an upstream call like the REST invoke does. It reads the body
// exactly as the MCP SDK will (the SDK's own message decoder, which matches
// keys case-sensitively: "Method":"ping" beside "method":"tools/call" is a
// tools/call), and counts every call of a JSON-RPC batch. Like the SDK, it
// reads the first JSON value of the body and ignores what follows. The body
// is already in memory (limitBody runs first).
func mcpToolCalls(body []byte) int {
	var batch []json.RawMessage
	if json.NewDecoder(bytes.NewReader(body)).Decode(&batch) == nil {
		n := 0
		for _, raw := range batch {
			n += mcpToolCalls1(raw)
		}
		return n
	}
	if first := bytes.TrimLeft(body, " \t\r\n"); len(first) > 0 && first[0] == '[' {
		// A batch this decoder cannot read, which the SDK's might: it
		// costs at least one call.
		return 1
	}
	return mcpToolCalls1(body)
}

// mcpToolCalls1 is 1 when msg is a tools/call as the SDK decodes it.
func mcpToolCalls1(msg []byte) int {
	m, err := jsonrpc.DecodeMessage(msg)
	if err != nil {
		return 0
	}
	if req, ok := m.(*jsonrpc.Request); ok && req.Method == "tools/call" {
		return 1
	}
	return 0
}
