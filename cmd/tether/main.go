// Command tether is the tether server and its administration commands.
//
//	tether serve [flags]                     run the server (see --help)
//	tether apikey create --tenant NAME       print a new API key for a tenant
//	tether apikey list                       list keys (prefixes only)
//	tether apikey revoke ID|PREFIX           revoke a key
//	tether keys rotate|promote ID|status|retire ID  manage the encryption keyring
//	tether backup --to FILE                  copy the database online
//	tether migrate --from FILE --to URL      copy SQLite into PostgreSQL
//	tether audit --tenant NAME | --operator  print the audit log as JSON lines
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "tether:", err)
		}
		os.Exit(1)
	}
}

const usage = `usage:
  tether serve [flags]                   run the server
  tether apikey create --tenant NAME     print a new API key for tenant NAME
                [--scope admin|agent] [--expires-at RFC3339]
  tether apikey list                     list API keys (prefixes, never keys)
  tether apikey revoke ID|PREFIX         revoke an API key
  tether keys rotate                     add a new primary encryption key to the keys file
  tether keys status                     JSON: how many stored values each key encrypts
  tether keys promote ID                 make a key added by rotate (PostgreSQL: decrypt-only) the primary
  tether keys retire ID                  remove a key nothing uses any more
  tether backup --to FILE                consistent online copy of the database (SQLite)
  tether migrate --from FILE --to postgres://...
                                         copy a SQLite installation into an empty PostgreSQL database
  tether audit --tenant NAME [--since T] a tenant's audit log, JSON lines, newest first
  tether audit --operator                the operator events (keyring, tenants)
Every command but migrate takes --db PATH|URL (env TETHER_DB, default tether.db).`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		cfg, err := parseServeFlags(args[1:], stderr)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, stderr)
	case "apikey":
		return apikeyCommand(ctx, args[1:], stdout, stderr)
	case "keys":
		return keysCommand(ctx, args[1:], stdout, stderr)
	case "audit":
		return auditCommand(ctx, args[1:], stdout, stderr)
	case "backup":
		return backupCommand(ctx, args[1:], stdout, stderr)
	case "migrate":
		return migrateCommand(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	fmt.Fprintln(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// serve runs tether until SIGINT or SIGTERM, then shuts down gracefully.
func serve(ctx context.Context, cfg Config, logOut io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	m := &Main{Config: cfg, Logger: slog.New(slog.NewJSONHandler(logOut, nil))}
	if err := m.Run(ctx); err != nil {
		// Run stopped what it had started; Close says how that went.
		return errors.Join(err, m.Close())
	}
	for done := false; !done; {
		select {
		case <-hup:
			if err := m.ReloadKeys(); err != nil {
				m.Logger.Error("reload keys: keeping the current keyring", "error", err.Error())
			}
		case <-ctx.Done():
			done = true
		}
	}
	stop()
	m.Logger.Info("shutting down", "grace", cfg.ShutdownTimeout.String())
	return m.Close()
}
