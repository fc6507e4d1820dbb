package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tether-dev/tether/secrets"
	"github.com/tether-dev/tether/store"
)

// migrateCommand runs `tether migrate --from tether.db --to postgres://…`:
// it copies a SQLite installation into an empty PostgreSQL database,
// ciphertexts as they are, and verifies that every table arrived whole
// and that the keys open every encrypted value there. The keys options
// are serve's; without them, the keys file next to the SQLite database
// (never a new one: the data is encrypted already).
func migrateCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var from, to, inline, file string
	fs.StringVar(&from, "from", "", "the SQLite database to copy")
	fs.StringVar(&to, "to", "", "the empty PostgreSQL database to copy into (postgres://...)")
	envSecretFlag(fs, &inline, "encryption-keys", "TETHER_ENCRYPTION_KEYS", "id:base64key[,id:base64key...]")
	envFlag(fs, &file, "encryption-keys-file", "TETHER_ENCRYPTION_KEYS_FILE", "", "keys file (default <from>.keys)")
	if _, err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if from == "" || to == "" {
		return errors.New("usage: tether migrate --from FILE --to postgres://URL")
	}
	if store.IsPostgresURL(from) || !store.IsPostgresURL(to) {
		return errors.New("tether migrate copies a SQLite file (--from) into a postgres:// database (--to)")
	}
	if _, err := os.Stat(from); err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	var keys []secrets.Key
	var err error
	switch {
	case inline != "":
		keys, err = secrets.ParseKeys(inline)
	default:
		if file == "" {
			file = from + ".keys"
		}
		keys, err = secrets.LoadKeysFile(file)
	}
	if err != nil {
		return fmt.Errorf("encryption keys: %w", err)
	}
	ring, err := secrets.NewKeyring(keys)
	if err != nil {
		return err
	}
	src, err := store.Open(ctx, from, store.Options{Cipher: ring})
	if err != nil {
		return err
	}
	defer src.Close()
	if err := src.CheckDecryptable(ctx); err != nil {
		return fmt.Errorf("the keys do not open the source %s: %w", from, err)
	}
	dst, err := store.Open(ctx, to, store.Options{Cipher: ring, MaxConns: 2})
	if err != nil {
		return err
	}
	defer dst.Close()
	counts, err := store.CopyInstallation(ctx, src, dst)
	if err != nil {
		return err
	}
	if err := dst.CheckDecryptable(ctx); err != nil {
		return fmt.Errorf("copied, but a value does not decrypt on the target: %w", err)
	}
	var parts []string
	for _, t := range []string{"tenants", "api_keys", "connections", "tools", "tool_versions", "calls", "oauth_states", "audit_events"} {
		parts = append(parts, fmt.Sprintf("%s %d", t, counts[t]))
	}
	fmt.Fprintf(stdout, "copied %s to %s: %s; every encrypted value decrypts there. "+
		"Start the replicas with --db on the new database and the same keys.\n", from, redactDB(to), strings.Join(parts, ", "))
	return nil
}
