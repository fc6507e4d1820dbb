package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/tether-dev/tether/registry"
)

// apikeyCommand runs `tether apikey create|list|revoke`. It works while
// `tether serve` runs on the same database.
func apikeyCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: tether apikey create --tenant NAME [--scope admin|agent] [--expires-at RFC3339] | list | revoke ID|PREFIX")
	}
	fs, db := cliFlags("apikey "+args[0], stderr)
	var tenant, scope, expires string
	fs.StringVar(&tenant, "tenant", "", "tenant (organization) name")
	fs.StringVar(&scope, "scope", "admin", "admin (every route) or agent (only /mcp and the tool API)")
	fs.StringVar(&expires, "expires-at", "", "when the key stops working (RFC 3339); default never")
	positional, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	st, err := openStoreForCLI(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	keys := registry.NewKeys(st)
	ctx = registry.WithActor(ctx, registry.Actor{Type: registry.ActorCLI})
	switch args[0] {
	case "create":
		if tenant == "" {
			return errors.New("apikey create needs --tenant NAME")
		}
		in := registry.NewKey{Scope: registry.Scope(scope)}
		if expires != "" {
			t, err := time.Parse(time.RFC3339, expires)
			if err != nil {
				return fmt.Errorf("--expires-at: %w", err)
			}
			in.ExpiresAt = &t
		}
		key, _, err := keys.CreateWith(ctx, tenant, in)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, key)
		return nil
	case "list":
		list, err := keys.List(ctx)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		for _, k := range list {
			row := map[string]any{"id": k.ID, "tenant": k.TenantName, "prefix": k.Prefix, "scope": k.Scope,
				"created_at": k.CreatedAt.Format(time.RFC3339)}
			if k.ExpiresAt != nil {
				row["expires_at"] = k.ExpiresAt.Format(time.RFC3339)
			}
			if k.RevokedAt != nil {
				row["revoked_at"] = k.RevokedAt.Format(time.RFC3339)
			}
			if err := enc.Encode(row); err != nil {
				return err
			}
		}
		return nil
	case "revoke":
		if len(positional) != 1 {
			return errors.New("usage: tether apikey revoke ID|PREFIX")
		}
		if err := keys.Revoke(ctx, positional[0]); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "revoked", positional[0])
		return nil
	}
	return fmt.Errorf("unknown apikey command %q", args[0])
}

// parseInterspersed parses flags that may come before or after positional
// arguments (`revoke ID --db x` as well as `revoke --db x ID`).
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// cliFlags is the flag set every admin command starts from: --db, with
// TETHER_DB as its default. Errors and usage go to stderr.
func cliFlags(name string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := new(string)
	envFlag(fs, db, "db", "TETHER_DB", "tether.db", dbUsage)
	return fs, db
}
