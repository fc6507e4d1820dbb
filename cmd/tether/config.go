package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tether-dev/tether/store"
)

// Config is everything `tether serve` reads from flags and the environment
// (DESIGN.md, "Running it"). Only this package reads the environment.
type Config struct {
	Addr               string
	DB                 string
	EncryptionKeys     string
	EncryptionKeysFile string
	PublicURL          string
	AllowedOrigins     string
	AllowCIDRs         string
	StdioCommands      string
	StdioUser          string
	StdioArgs          string
	MaxStdioPerTenant  int
	BootstrapAPIKey    string
	HealthInterval     time.Duration
	OAuthReturnURL     string
	RateLimit          string
	ProbeRateLimit     string
	ShutdownTimeout    time.Duration
	MetricsAddr        string
	// ConsoleFrameAncestors is the console's CSP frame-ancestors.
	ConsoleFrameAncestors string

	// MaxMCPSessionsPerKey and MaxConnectionsPerTenant bound what one key
	// or tenant makes tether hold; 0 is no bound.
	MaxMCPSessionsPerKey    int
	MaxConnectionsPerTenant int

	// AuditRetention is how long audit events are kept (0: forever).
	AuditRetention time.Duration
	// AdminKey enables the operator API under /admin/v1/ ("": off).
	AdminKey string
	// Tracing turns OpenTelemetry trace export on (see tracingFromEnv);
	// the SDK reads the exporter's and sampler's settings from the
	// standard OTEL_* variables itself.
	Tracing bool
	// TracingEndpoint, when set, is the full OTLP/HTTP traces URL,
	// overriding OTEL_EXPORTER_OTLP_* (tests).
	TracingEndpoint string
	// TracingBatchDelay, when set, overrides OTEL_BSP_SCHEDULE_DELAY (tests).
	TracingBatchDelay time.Duration
	// DefaultToolPolicy is the tool_policy of connections created without
	// one: auto or approve.
	DefaultToolPolicy string

	// DBStatementTimeout and DBMaxConns configure the PostgreSQL pool
	// (ignored on SQLite).
	DBStatementTimeout time.Duration
	DBMaxConns         int
	// ReplicaID names this replica in logs (default <hostname>-<pid>).
	ReplicaID string
}

// tracingFromEnv reports whether the environment asks for trace export:
// an OTLP endpoint is configured (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), the SDK is not disabled
// (OTEL_SDK_DISABLED=true) and the traces exporter is not "none"
// (OTEL_TRACES_EXPORTER). Without an endpoint tracing stays off: the
// SDK's default endpoint (localhost:4318) would have tether export to a
// collector nobody asked for.
func tracingFromEnv() bool {
	if strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true") {
		return false
	}
	if strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER")), "none") {
		return false
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// envFlag registers a string flag whose default comes from an environment
// variable when set. The value shows in usage text as the default: use
// [envSecretFlag] for anything secret.
func envFlag(fs *flag.FlagSet, p *string, name, env, def, usage string) {
	if v, ok := os.LookupEnv(env); ok {
		def = v
	}
	fs.StringVar(p, name, def, usage+" (env "+env+")")
}

// envSecretFlag is [envFlag] for a flag that holds a secret (keys, API
// keys, passwords). Its usage text says whether the variable is set, never
// the value: usage goes to stderr on any bad flag, and process supervisors
// collect stderr.
func envSecretFlag(fs *flag.FlagSet, p *string, name, env, usage string) {
	fs.StringVar(p, name, "", usage)
	f := fs.Lookup(name)
	if v, ok := os.LookupEnv(env); ok && v != "" {
		*p = v
		f.Usage += " (set from " + env + ")"
		return
	}
	f.Usage += " (env " + env + ")"
}

func envInt(fs *flag.FlagSet, p *int, name, env string, def int, usage string) error {
	if v, ok := os.LookupEnv(env); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("%s=%q: not a whole number", env, v)
		}
		def = n
	}
	fs.IntVar(p, name, def, usage+" (env "+env+")")
	return nil
}

func envDuration(fs *flag.FlagSet, p *time.Duration, name, env string, def time.Duration, usage string) error {
	if v, ok := os.LookupEnv(env); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%s=%q: %w", env, v, err)
		}
		def = d
	}
	fs.DurationVar(p, name, def, usage+" (env "+env+")")
	return nil
}

// parseServeFlags parses `tether serve` arguments over the environment;
// errors and usage go to stderr.
func parseServeFlags(args []string, stderr io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	envFlag(fs, &c.Addr, "addr", "TETHER_ADDR", "127.0.0.1:8080", "listen address")
	envFlag(fs, &c.DB, "db", "TETHER_DB", "tether.db", dbUsage)
	envSecretFlag(fs, &c.EncryptionKeys, "encryption-keys", "TETHER_ENCRYPTION_KEYS", "id:base64key[,id:base64key...]; the first is primary")
	envFlag(fs, &c.EncryptionKeysFile, "encryption-keys-file", "TETHER_ENCRYPTION_KEYS_FILE", "", "keys file, one id:base64key a line (default <db>.keys, generated when no keys are configured)")
	envFlag(fs, &c.PublicURL, "public-url", "TETHER_PUBLIC_URL", "", "base of the OAuth redirect URI (default http://<addr>)")
	envFlag(fs, &c.AllowedOrigins, "allowed-origins", "TETHER_ALLOWED_ORIGINS", "", "comma-separated browser origins allowed to call the API and /mcp besides the public URL's, e.g. https://app.example.com")
	envFlag(fs, &c.AllowCIDRs, "allow-cidrs", "TETHER_ALLOW_CIDRS", "", "networks exempt from the SSRF guard, e.g. 127.0.0.0/8,::1/128")
	envFlag(fs, &c.StdioCommands, "stdio-commands", "TETHER_STDIO_COMMANDS", "", "comma-separated executables stdio connections may run, each optionally cmd=arg1 arg2 (empty: stdio disabled)")
	envFlag(fs, &c.StdioUser, "stdio-user", "TETHER_STDIO_USER", "", "unprivileged user stdio servers run as (required when tether runs as root)")
	envFlag(fs, &c.StdioArgs, "stdio-args", "TETHER_STDIO_ARGS", "free", "free: tenants choose a stdio command's arguments; fixed: only argument lists given in --stdio-commands entries")
	if err := envInt(fs, &c.MaxStdioPerTenant, "max-stdio-per-tenant", "TETHER_MAX_STDIO_PER_TENANT", 16, "stdio servers one tenant may run at once"); err != nil {
		return c, err
	}
	if err := envInt(fs, &c.MaxMCPSessionsPerKey, "max-mcp-sessions-per-key", "TETHER_MAX_MCP_SESSIONS_PER_KEY", 256, "open /mcp sessions (and, apart, subscriptions/listen streams) one API key may hold; the session idle longest is closed first (0: no bound)"); err != nil {
		return c, err
	}
	if err := envInt(fs, &c.MaxConnectionsPerTenant, "max-connections-per-tenant", "TETHER_MAX_CONNECTIONS_PER_TENANT", 1000, "connections one tenant may register (0: no bound)"); err != nil {
		return c, err
	}
	envSecretFlag(fs, &c.BootstrapAPIKey, "bootstrap-api-key", "TETHER_BOOTSTRAP_API_KEY", "ensure this API key exists for tenant \"default\" at start")
	envFlag(fs, &c.OAuthReturnURL, "oauth-return-url", "TETHER_OAUTH_RETURN_URL", "", "where the OAuth callback redirects when done")
	envFlag(fs, &c.RateLimit, "rate-limit", "TETHER_RATE_LIMIT", "", "requests per API key, e.g. 600/m")
	envFlag(fs, &c.ProbeRateLimit, "probe-rate-limit", "TETHER_PROBE_RATE_LIMIT", "", "probes and tool calls per API key, e.g. 60/m")
	envFlag(fs, &c.DefaultToolPolicy, "default-tool-policy", "TETHER_DEFAULT_TOOL_POLICY", "auto", "tool_policy of connections created without one: auto (definitions take effect at once) or approve (new and changed tool definitions wait for approval)")
	envFlag(fs, &c.MetricsAddr, "metrics-addr", "TETHER_METRICS_ADDR", "", "separate listener for /metrics")
	envFlag(fs, &c.ConsoleFrameAncestors, "console-frame-ancestors", "TETHER_CONSOLE_FRAME_ANCESTORS", "'none'", "CSP frame-ancestors of the console, for platforms that embed it (e.g. 'self' https://app.example.com)")
	if err := envDuration(fs, &c.HealthInterval, "health-interval", "TETHER_HEALTH_INTERVAL", 5*time.Minute, "how often active connections are re-probed (0 turns it off); a server's tools/list ttlMs moves it between a tenth and twelve times this"); err != nil {
		return c, err
	}
	if err := envDuration(fs, &c.ShutdownTimeout, "shutdown-timeout", "TETHER_SHUTDOWN_TIMEOUT", 15*time.Second, "grace period for in-flight requests on SIGTERM"); err != nil {
		return c, err
	}
	if err := envDuration(fs, &c.AuditRetention, "audit-retention", "TETHER_AUDIT_RETENTION", 2160*time.Hour, "how long audit events are kept (0: forever)"); err != nil {
		return c, err
	}
	if err := envDuration(fs, &c.DBStatementTimeout, "db-statement-timeout", "TETHER_DB_STATEMENT_TIMEOUT", store.DefaultStatementTimeout, "PostgreSQL statement timeout (0: none)"); err != nil {
		return c, err
	}
	if err := envInt(fs, &c.DBMaxConns, "db-max-conns", "TETHER_DB_MAX_CONNS", store.DefaultMaxConns, "PostgreSQL pool size, per replica"); err != nil {
		return c, err
	}
	envFlag(fs, &c.ReplicaID, "replica-id", "TETHER_REPLICA_ID", "", "this replica's name in logs (default <hostname>-<pid>)")
	envSecretFlag(fs, &c.AdminKey, "admin-key", "TETHER_ADMIN_KEY", "the operator key for /admin/v1/ (tenants and API keys), sent as Authorization: Bearer; unset: admin API off")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.AdminKey != "" && len(c.AdminKey) < 16 {
		return c, fmt.Errorf("--admin-key must be at least 16 characters")
	}
	if c.DBMaxConns < 1 {
		return c, fmt.Errorf("--db-max-conns must be at least 1")
	}
	if c.DBStatementTimeout < 0 {
		return c, fmt.Errorf("--db-statement-timeout must not be negative")
	}
	if c.ReplicaID == "" {
		host, _ := os.Hostname()
		c.ReplicaID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if c.AuditRetention < 0 {
		return c, fmt.Errorf("--audit-retention must not be negative")
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	c.Tracing = tracingFromEnv()
	if c.DefaultToolPolicy != "auto" && c.DefaultToolPolicy != "approve" {
		return c, fmt.Errorf("--default-tool-policy %q: must be auto or approve", c.DefaultToolPolicy)
	}
	return c, nil
}

// dbUsage is the usage text of every --db flag.
const dbUsage = "SQLite database file, or a postgres:// URL (PostgreSQL: several replicas share it)"

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
