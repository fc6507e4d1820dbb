package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-dev/tether/console"
	"github.com/tether-dev/tether/gateway"
	"github.com/tether-dev/tether/internal/bound"
	"github.com/tether-dev/tether/internal/lifetime"
	"github.com/tether-dev/tether/internal/logctx"
	"github.com/tether-dev/tether/internal/telemetry"
	"github.com/tether-dev/tether/mcpclient"
	"github.com/tether-dev/tether/metrics"
	"github.com/tether-dev/tether/netguard"
	"github.com/tether-dev/tether/oauth"
	"github.com/tether-dev/tether/registry"
	"github.com/tether-dev/tether/sandbox"
	"github.com/tether-dev/tether/secrets"
	"github.com/tether-dev/tether/server"
	"github.com/tether-dev/tether/store"
	"go.opentelemetry.io/otel/trace"
)

// version is reported to MCP servers as the client version.
const version = "0.1.0"

// tracingShutdownTimeout bounds the export of the last spans at exit.
const tracingShutdownTimeout = 5 * time.Second

// Main is the running program: the wiring of every package, started by Run
// and stopped by Close. Tests start it on port 0 with a temporary database.
type Main struct {
	Config Config
	Logger *slog.Logger

	// Addr is the address actually listened on (after Run).
	Addr string
	// Now, when set, is the clock of the registry and the OAuth client
	// (tests use it to expire OAuth states and tokens).
	Now func() time.Time

	store   *store.Store
	tracing *telemetry.Tracing
	svc     *registry.Service
	audit   *registry.AuditLog
	pool    *mcpclient.Pool
	sandbox *sandbox.Sandbox
	gateway *gateway.Handler
	keys    *secrets.Holder
	http    *http.Server
	// metricsHTTP serves /metrics on --metrics-addr, when set.
	metricsHTTP *http.Server
	MetricsAddr string
	done        chan error

	closeOnce sync.Once
	closeErr  error

	// life is the background work (re-encryption; its context is the
	// requests' base context); Close ends it.
	life        *lifetime.Group
	keysErr     atomic.Pointer[error]
	reencryptMu sync.Mutex // one re-encryption job at a time
}

// Run opens the database, checks the keys against it and starts serving.
// It returns once the listener is up. A failed Run has already stopped
// whatever it started, in Close's order (the re-encryption job and the
// background probes end before the database closes under them); Close
// then reports what stopping it returned.
func (m *Main) Run(ctx context.Context) (err error) {
	if m.Logger == nil {
		m.Logger = slog.New(slog.DiscardHandler)
	}
	// Every line logged with a request's context names the request and
	// its trace.
	m.Logger = logctx.Wrap(m.Logger)
	defer func() {
		if err != nil {
			_ = m.Close() // its result stays available from Close
		}
	}()
	if m.Config.ReplicaID == "" {
		host, _ := os.Hostname()
		m.Config.ReplicaID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if store.IsPostgresURL(m.Config.DB) {
		// A fleet's logs are read together: every line names its replica.
		m.Logger = m.Logger.With("replica", m.Config.ReplicaID)
	}
	cfg := m.Config
	m.tracing, err = telemetry.Setup(ctx, telemetry.Options{Enabled: cfg.Tracing, EndpointURL: cfg.TracingEndpoint,
		BatchTimeout: cfg.TracingBatchDelay, ServiceVersion: version, Logger: m.Logger})
	if err != nil {
		return err
	}
	tp := m.tracing.TracerProvider()
	// The server and the store skip even the cheap part of tracing when
	// it is off (the store its timing, the server otelhttp's wrapper).
	var tpOn trace.TracerProvider
	if m.tracing.Enabled() {
		tpOn = tp
		m.Logger.Info("tracing on: exporting spans over OTLP/HTTP")
	}
	ring, err := m.loadKeyring()
	if err != nil {
		return err
	}
	m.keys = secrets.NewHolder(ring)
	m.life = lifetime.New()
	allow, err := netguard.ParseCIDRs(cfg.AllowCIDRs)
	if err != nil {
		return fmt.Errorf("--allow-cidrs: %w", err)
	}
	guard := netguard.New(netguard.Options{AllowCIDRs: allow})

	limit, err := server.ParseRate(cfg.RateLimit)
	if err != nil {
		return fmt.Errorf("--rate-limit: %w", err)
	}
	probeLimit, err := server.ParseRate(cfg.ProbeRateLimit)
	if err != nil {
		return fmt.Errorf("--probe-rate-limit: %w", err)
	}
	consoleHandler, err := console.Handler(console.Options{FrameAncestors: cfg.ConsoleFrameAncestors})
	if err != nil {
		return fmt.Errorf("--console-frame-ancestors: %w", err)
	}
	met := metrics.New()
	met.SetReplica(m.Config.ReplicaID)
	timeout := cfg.DBStatementTimeout
	if timeout == 0 {
		timeout = -1 // none, as the flag says
	}
	st, err := store.Open(ctx, cfg.DB, store.Options{Cipher: m.keys, Logger: m.Logger, ObserveWrite: met.ObserveDBWrite, TracerProvider: tpOn,
		MaxConns: cfg.DBMaxConns, StatementTimeout: timeout})
	if err != nil {
		return err
	}
	m.store = st
	if err := st.CheckDecryptable(ctx); err != nil {
		return fmt.Errorf("the configured encryption keys cannot decrypt the database %s: %w", redactDB(cfg.DB), err)
	}
	// A fleet knows which keys each replica has loaded (tether keys
	// promote waits for all of them).
	if st.Postgres() {
		m.reportReplica(ctx, ring)
		m.life.Go(func(ctx context.Context) {
			t := time.NewTicker(replicaHeartbeat)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					m.reportReplica(ctx, m.keys.Load())
				}
			}
		})
	}
	// Finish a rotation that a restart interrupted (or that happened
	// while tether was down).
	m.startReencrypt(ring)
	keys := registry.NewKeys(st)
	if cfg.BootstrapAPIKey != "" {
		// Given on the command line: recorded (the first time) as the CLI's.
		cliCtx := registry.WithActor(ctx, registry.Actor{Type: registry.ActorCLI})
		if _, err := keys.Import(cliCtx, "default", cfg.BootstrapAPIKey); err != nil {
			return fmt.Errorf("--bootstrap-api-key: %w", err)
		}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	defer func() {
		if m.http == nil { // not serving yet: Close does not know ln
			ln.Close()
		}
	}()
	m.Addr = ln.Addr().String()
	publicURL := strings.TrimSuffix(cfg.PublicURL, "/")
	if publicURL == "" {
		publicURL = "http://" + m.Addr
	}
	redirectURI := publicURL + "/v1/integrations/oauth/callback"
	origins, err := allowedOrigins(publicURL, cfg.AllowedOrigins)
	if err != nil {
		return err
	}
	cimdURL := publicURL + "/oauth/client-metadata.json"
	authorizer := &oauth.Authorizer{Client: oauth.New(oauth.Options{
		HTTPClient:     guard.HTTPClient(netguard.ClientOptions{Timeout: 30 * time.Second, Credentialed: true}),
		ClientName:     "tether",
		Now:            m.Now,
		TracerProvider: tp,
	}), Now: m.Now}
	if strings.HasPrefix(cimdURL, "https://") {
		// Authorization servers fetch this document, so only an https
		// public URL can serve as a client id.
		authorizer.ClientMetadataURL = cimdURL
	}
	stdio := splitList(cfg.StdioCommands)
	fixedArgs, sb, noSandbox, err := m.stdioSandbox(stdio)
	m.sandbox = sb
	if err != nil {
		return err
	}
	client := mcpclient.New(mcpclient.Options{Guard: guard, StdioCommands: stdio, StdioFixedArgs: fixedArgs,
		Sandbox: sb, SandboxUnavailable: noSandbox, MaxStdioPerTenant: cfg.MaxStdioPerTenant, ClientVersion: version, Logger: m.Logger,
		TracerProvider: tp})
	// Tool calls go over warm sessions (mcpclient's pool); probes stay
	// cold so that they see the server afresh.
	pool := mcpclient.NewPool(mcpclient.PoolOptions{Client: client, Logger: m.Logger})
	m.pool = pool
	// On PostgreSQL, the rate limits count for the fleet.
	var rateCounter server.RateCounter
	if st.Postgres() {
		rateCounter = st
	}
	// On PostgreSQL, changes travel between the replicas (LISTEN/NOTIFY).
	var bus registry.ChangeBus
	pgBus := st.NewBus(m.Logger)
	if pgBus != nil {
		bus = pgBus
	}
	svc := registry.NewService(registry.Options{
		Store:          st,
		Bus:            bus,
		URLs:           guard,
		StdioCommands:  stdio,
		StdioFixedArgs: fixedArgs,
		Prober:         pool,
		Logger:         m.Logger,
		Observer:       met,
		Calls:          st,
		OAuth:          &registry.OAuthOptions{Authorizer: authorizer, States: st, RedirectURI: redirectURI},
		Now:            m.Now,
		Limits:         registry.Limits{MaxConnectionsPerTenant: bound.FromFlag(cfg.MaxConnectionsPerTenant)},
		// Sealed agent state opens on every replica: they share the keys.
		Sealer:         m.keys,
		TracerProvider: tp,

		DefaultToolPolicy: registry.ToolPolicy(cfg.DefaultToolPolicy),
		// tool.approved, tool.rejected and tool.definition_changed are
		// audited by the registry in their transactions; ToolEvents is
		// for listeners beyond the audit log (none yet).
	})
	m.svc = svc
	if pgBus != nil {
		m.life.Go(func(ctx context.Context) { pgBus.Run(ctx, svc.ApplyRemote, svc.ResyncRemote) })
	}
	// A fleet-wide count, read from the shared database at each scrape.
	met.SetToolsAwaitingApproval(func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n, err := st.CountToolsAwaitingApproval(ctx)
		if err != nil {
			m.Logger.Warn("count tools awaiting approval", "error", err.Error())
			return 0
		}
		return float64(n)
	})
	gw := gateway.New(gateway.Options{
		Registry: svc,
		Tenant:   func(r *http.Request) (string, bool) { return server.TenantID(r.Context()) },
		Key:      func(r *http.Request) string { return server.APIKeyID(r.Context()) },
		// An open listen or GET stream ends once its key is revoked.
		Reauthorize:       func(r *http.Request) bool { return server.StillAuthorized(keys, r) },
		MaxSessionsPerKey: bound.FromFlag(cfg.MaxMCPSessionsPerKey),
		Logger:            m.Logger,
		ServerVersion:     version,
		TracerProvider:    tp,
		// Replicas sharing the primary key recognise each other's /mcp
		// sessions (gateway/foreign.go).
		SessionKey: ring.Derive("tether /mcp session ids"),
	})
	m.gateway = gw
	// Listeners, now that everything exists: an edit drops the warm
	// session and re-syncs the agents' views; an upstream's new tool list
	// is recorded.
	svc.OnChange(pool.HandleChange)
	svc.OnChange(gw.HandleChange)
	// A deleted tenant's connections go like deleted ones.
	keys.OnTenantDeleted(svc.ConnectionsDeleted)
	m.audit = registry.NewAuditLog(st, m.Logger)
	pool.OnToolsChanged(func(ctx context.Context, tenantID, id string, tools []registry.ToolSpec) {
		if err := svc.RecordTools(ctx, tenantID, id, tools); err != nil {
			m.Logger.Warn("upstream tools changed; recording them failed", "connection_id", id, "error", err.Error())
		}
	})
	srv, err := server.New(server.Options{
		MCP:         gw,
		Console:     consoleHandler,
		Connections: svc, Tools: svc, Probes: svc, OAuth: svc, Agent: svc, Keys: keys, Ready: m.ready, Logger: m.Logger,
		Audit: m.audit, Admin: keys, AdminKey: cfg.AdminKey,
		Metrics: met, MetricsElsewhere: cfg.MetricsAddr != "",
		RateLimit: limit, ProbeRateLimit: probeLimit, RateCounter: rateCounter,
		OAuthReturnURL: cfg.OAuthReturnURL,
		Origins:        origins,
		ClientMetadata: oauth.ClientMetadataDocument(cimdURL, redirectURI, "tether"),
		TracerProvider: tpOn,
	})
	if err != nil {
		return err
	}

	bg := m.life.Context()
	m.http = &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return bg },
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn),
	}
	// Agents' open MCP streams would hold Shutdown until its timeout.
	m.http.RegisterOnShutdown(gw.Close)
	m.done = make(chan error, 1)
	go func() { m.done <- m.http.Serve(ln) }()
	if cfg.MetricsAddr != "" {
		if err := m.serveMetrics(cfg.MetricsAddr, met); err != nil {
			return err
		}
	}
	svc.StartMonitor(registry.MonitorOptions{Interval: cfg.HealthInterval})
	m.audit.StartRetention(cfg.AuditRetention)
	m.Logger.Info("tether serving", "addr", m.Addr, "db", redactDB(cfg.DB), "primary_key", ring.Primary())
	return nil
}

// serveMetrics starts the separate metrics listener.
func (m *Main) serveMetrics(addr string, met *metrics.Metrics) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on --metrics-addr %s: %w", addr, err)
	}
	m.MetricsAddr = ln.Addr().String()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", met.Handler())
	m.metricsHTTP = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = m.metricsHTTP.Serve(ln) }()
	return nil
}

// ready reports whether tether can serve: the database answers and the
// keyring decrypts what is stored.
func (m *Main) ready(ctx context.Context) error {
	if err := m.store.Ping(ctx); err != nil {
		return err
	}
	if err := m.keysErr.Load(); err != nil {
		return fmt.Errorf("%w: %w", server.ErrKeyringNotReady, *err)
	}
	return nil
}

// stdioSandbox checks the stdio options and, when stdio is enabled, builds
// the sandbox its servers run in, hiding the database and keys files from
// them. The mechanisms the kernel allowed go to the log. A sandbox that
// cannot be built (no --stdio-user, or no privilege to switch users) does
// not stop tether: stdio connections can still be registered, and every
// attempt to start one is refused with the reason (unavailable).
func (m *Main) stdioSandbox(stdio []string) (fixedArgs bool, sb *sandbox.Sandbox, unavailable error, err error) {
	cfg := m.Config
	switch cfg.StdioArgs {
	case "", "free":
	case "fixed":
		fixedArgs = true
	default:
		return false, nil, nil, fmt.Errorf("--stdio-args: %q is neither free nor fixed", cfg.StdioArgs)
	}
	if _, err := registry.NewStdioPolicy(stdio, fixedArgs); err != nil {
		return false, nil, nil, fmt.Errorf("--stdio-commands: %w", err)
	}
	if len(stdio) == 0 {
		return fixedArgs, nil, nil, nil
	}
	var hide []string
	if !store.IsPostgresURL(cfg.DB) {
		hide = []string{cfg.DB, cfg.DB + "-wal", cfg.DB + "-shm", cfg.DB + "-journal"}
	}
	if f := m.keysFile(); f != "" {
		hide = append(hide, f)
	}
	sb, err = sandbox.New(sandbox.Config{User: cfg.StdioUser, Hide: hide})
	if err != nil {
		m.Logger.Error("stdio servers will not start: the sandbox is unavailable", "error", err.Error())
		return fixedArgs, nil, err, nil
	}
	m.Logger.Info("stdio sandbox ready", "mechanisms", strings.Join(sb.Mechanisms(), "; "))
	if !sb.Namespaces() {
		m.Logger.Warn("the kernel refused PID and mount namespaces: stdio servers run as a separate user with limits, " +
			"but detached children can outlive their connection and files are protected by permissions only")
	}
	return fixedArgs, sb, nil, nil
}

// keysFile is the keys file this server reads, or "" when the keys were
// given inline (then there is nothing to reload).
func (m *Main) keysFile() string {
	switch {
	case m.Config.EncryptionKeys != "":
		return ""
	case m.Config.EncryptionKeysFile != "":
		return m.Config.EncryptionKeysFile
	case store.IsPostgresURL(m.Config.DB):
		return "" // refused at start (loadKeyring)
	}
	return m.Config.DB + ".keys"
}

// replicaHeartbeat is how often a replica reports itself alive, and
// replicaLive how recently it must have for `tether keys promote` to wait
// for it.
const (
	replicaHeartbeat = 30 * time.Second
	replicaLive      = 2 * time.Minute
)

// reportReplica records this replica and the keys it has loaded.
func (m *Main) reportReplica(ctx context.Context, ring *secrets.Keyring) {
	if err := m.store.ReportReplica(ctx, m.Config.ReplicaID, ring.IDs()); err != nil && ctx.Err() == nil {
		m.Logger.Warn("report this replica's keys", "error", err.Error())
	}
}

// redactDB is a --db value fit for logs and errors: a PostgreSQL URL
// without its password.
func redactDB(db string) string {
	if !store.IsPostgresURL(db) {
		return db
	}
	u, err := url.Parse(db)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	return u.Redacted()
}

// ReloadKeys re-reads the keys file (on SIGHUP): the new keyring takes
// over at once, without dropping requests, and a background job
// re-encrypts every stored value under the new primary. A keyring that
// lacks a key the database still uses is refused; the old one stays.
func (m *Main) ReloadKeys() error {
	path := m.keysFile()
	if path == "" {
		return errors.New("the keys were given with --encryption-keys; rotation needs --encryption-keys-file")
	}
	keys, err := secrets.LoadKeysFile(path)
	if err != nil {
		return err
	}
	ring, err := secrets.NewKeyring(keys)
	if err != nil {
		return err
	}
	usage, err := m.store.KeyUsage(context.Background())
	if err != nil {
		return err
	}
	for id, n := range usage {
		if !slices.Contains(ring.IDs(), id) {
			return fmt.Errorf("%s lacks key %q, which still encrypts %d stored values", path, id, n)
		}
	}
	m.keys.Store(ring)
	m.Logger.Info("keys reloaded", "primary_key", ring.Primary(), "keys", len(keys))
	if m.store.Postgres() {
		m.reportReplica(context.Background(), ring)
	}
	m.startReencrypt(ring)
	return nil
}

// startReencrypt re-encrypts in the background whatever ring's primary
// does not yet encrypt. One job runs at a time; a newer ring waits for
// the running job, then runs.
func (m *Main) startReencrypt(ring *secrets.Keyring) {
	m.life.Go(func(ctx context.Context) {
		m.reencryptMu.Lock()
		defer m.reencryptMu.Unlock()
		if ctx.Err() != nil {
			return
		}
		n, err := m.store.Reencrypt(ctx, ring, 100)
		if err != nil && ctx.Err() != nil {
			// Close stopped it; the next start carries on.
			m.Logger.Info("re-encryption paused by shutdown", "rewritten", n)
			return
		}
		if err != nil {
			// A value the keyring cannot decrypt: not ready until fixed.
			m.keysErr.Store(&err)
			m.Logger.Error("re-encryption stopped", "error", err.Error(), "rewritten", n)
			return
		}
		m.keysErr.Store(nil)
		if n > 0 {
			m.Logger.Info("re-encryption finished", "primary_key", ring.Primary(), "rewritten", n)
		}
	})
}

// loadKeyring reads the keys from --encryption-keys, the keys file, or a
// development keys file generated next to the database.
func (m *Main) loadKeyring() (*secrets.Keyring, error) {
	cfg := m.Config
	var keys []secrets.Key
	var err error
	switch {
	case cfg.EncryptionKeys != "":
		keys, err = secrets.ParseKeys(cfg.EncryptionKeys)
		if err != nil {
			return nil, fmt.Errorf("--encryption-keys: %w", err)
		}
	case cfg.EncryptionKeysFile != "":
		keys, err = secrets.LoadKeysFile(cfg.EncryptionKeysFile)
		if err != nil {
			return nil, fmt.Errorf("--encryption-keys-file: %w", err)
		}
	case store.IsPostgresURL(cfg.DB):
		// Replicas that each generated a key could not read each other's
		// writes: a fleet's keys are the operator's to distribute.
		return nil, errors.New("a postgres:// database needs --encryption-keys or --encryption-keys-file " +
			"(the same keys on every replica); tether generates a keys file only next to a SQLite database")
	default:
		path := cfg.DB + ".keys"
		var created bool
		keys, created, err = secrets.EnsureDevKeysFile(path)
		if err != nil {
			return nil, fmt.Errorf("development keys file %s: %w", path, err)
		}
		if created {
			m.Logger.Warn("no encryption keys configured: generated a development keys file; keep it with the database and configure --encryption-keys-file in production", "path", path)
		}
	}
	return secrets.NewKeyring(keys)
}

// Close stops accepting connections, lets in-flight requests finish within
// the shutdown timeout, then stops background work and closes the database.
// Calling it again, or after a failed Run (which called it), returns the
// first result.
func (m *Main) Close() error {
	m.closeOnce.Do(func() { m.closeErr = m.close() })
	return m.closeErr
}

func (m *Main) close() error {
	timeout := m.Config.ShutdownTimeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var errs []error
	if m.metricsHTTP != nil {
		_ = m.metricsHTTP.Shutdown(ctx)
	}
	if m.http != nil {
		if err := m.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown: %w", err))
		}
		if err := <-m.done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	if m.life != nil {
		m.life.Close()
	}
	if m.svc != nil {
		m.svc.Close() // background probes end before the database closes
	}
	if m.audit != nil {
		m.audit.Close()
	}
	if m.pool != nil {
		m.pool.Close() // its stdio sessions end before the sandbox closes
	}
	if m.sandbox != nil {
		m.sandbox.Close()
	}
	if m.store != nil {
		if m.store.Postgres() {
			// A replica that stops cleanly is no longer waited for.
			_ = m.store.ForgetReplica(ctx, m.Config.ReplicaID)
		}
		errs = append(errs, m.store.Close())
	}
	if m.tracing != nil {
		// The spans still queued, within a bound of their own: a
		// collector that is down must not hold the exit.
		tctx, tcancel := context.WithTimeout(context.Background(), tracingShutdownTimeout)
		if err := m.tracing.Shutdown(tctx); err != nil {
			m.Logger.Warn("trace export at shutdown", "error", err.Error())
		}
		tcancel()
	}
	return errors.Join(errs...)
}

// openStoreForCLI opens the database for the admin commands, which need no
// encryption keys (API keys are hashed).
func openStoreForCLI(ctx context.Context, db string) (*store.Store, error) {
	if _, err := os.Stat(db); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return store.Open(ctx, db, store.Options{})
}

// allowedOrigins is the public URL's origin (always: the console is served
// there) and the operator's --allowed-origins.
func allowedOrigins(publicURL, extra string) (*server.Origins, error) {
	u, err := url.Parse(publicURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("--public-url %q: want an absolute URL such as https://tether.example.com", publicURL)
	}
	return server.NewOrigins(append([]string{u.Scheme + "://" + u.Host}, splitList(extra)...)...)
}
