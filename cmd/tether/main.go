// Command tether is the tether server and its administration commands.
//
//	tether serve [flags]                     run the server (see --help)
//	tether apikey create --tenant NAME       print a new API key for a tenant
//	tether apikey list                       list keys (prefixes only)
//	tether apikey revoke ID|PREFIX           revoke a key
//	tether keys rotate|status|retire ID      manage the encryption keyring
//	tether backup --to FILE                  copy the database online
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
	"runtime/debug"
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
  tether apikey list                     list API keys (prefixes, never keys)
  tether apikey revoke ID|PREFIX         revoke an API key
  tether keys rotate                     add a new primary encryption key to the keys file
  tether keys status                     JSON: how many stored values each key encrypts
  tether keys retire ID                  remove a key nothing uses any more
  tether backup --to FILE                consistent online copy of the database
Every command takes --db PATH (env TETHER_DB, default tether.db).`

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
	case "backup":
		return backupCommand(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	fmt.Fprintln(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// The garbage collector's settings for `tether serve`, unless GOGC or
// GOMEMLIMIT say otherwise. On the agent path the live heap is small (a few
// MiB) but every tool call allocates a few hundred KiB of short-lived
// buffers (the MCP SDK's JSON decoder takes 32 KiB per message it reads):
// at Go's default of a collection each time the heap doubles, the
// collector ran dozens of times a second and took a third of tether's CPU,
// more with calls made one at a time, where its idle workers fill the
// otherwise idle cores. A collection each time the heap grows fivefold
// cuts that to a fifth. The soft memory limit makes collections more
// frequent again as the heap nears 1 GiB, so the fivefold growth cannot
// take a large heap far past it; it sits well above tether's live heap
// (a live heap near the limit would make the collector run back to back).
// Operators in smaller containers set GOMEMLIMIT to what they can spare.
const (
	gcPercent   = 400
	gcSoftLimit = 1 << 30
)

// tuneGC applies gcPercent and gcSoftLimit where the environment sets
// neither.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(gcSoftLimit)
	}
}

// serve runs tether until SIGINT or SIGTERM, then shuts down gracefully.
func serve(ctx context.Context, cfg Config, logOut io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	tuneGC()
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
