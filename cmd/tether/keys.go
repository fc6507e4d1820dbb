package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/tether-dev/tether/registry"
	"github.com/tether-dev/tether/secrets"
	"github.com/tether-dev/tether/store"
)

// keysCommand runs `tether keys rotate|status|retire`, which manage the
// keyring in the keys file. They work while `tether serve` runs: rotate
// writes the new primary key, and the server re-encrypts on SIGHUP.
func keysCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: tether keys rotate | promote ID | status | retire ID")
	}
	fs, dbFlag := cliFlags("keys "+args[0], stderr)
	var file string
	envFlag(fs, &file, "encryption-keys-file", "TETHER_ENCRYPTION_KEYS_FILE", "", "keys file (default <db>.keys)")
	positional, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	db := *dbFlag
	if file == "" && store.IsPostgresURL(db) {
		return errors.New("a postgres:// database has no default keys file: give --encryption-keys-file")
	}
	if file == "" {
		file = db + ".keys"
	}
	keys, err := secrets.LoadKeysFile(file)
	if err != nil {
		return fmt.Errorf("keys file %s: %w", file, err)
	}
	switch args[0] {
	case "rotate":
		k, err := secrets.GenerateKey(secrets.NewKeyID(time.Now()))
		if err != nil {
			return err
		}
		if store.IsPostgresURL(db) {
			// A fleet rotates in two steps, so that no replica writes
			// with a key another cannot read yet: the new key goes last
			// (decrypt-only) until `tether keys promote`.
			if err := secrets.WriteKeysFile(file, append(slices.Clone(keys), k)); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "new key %s added to %s, decrypt-only; distribute the file to every replica and send them SIGHUP, "+
				"then run `tether keys promote %s` (it waits until every live replica has loaded it)\n", k.ID, file, k.ID)
			return nil // the rotation is recorded when the key is promoted
		} else {
			if err := secrets.WriteKeysFile(file, append([]secrets.Key{k}, keys...)); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "new primary key %s written to %s; send SIGHUP to tether to start using it and re-encrypt\n", k.ID, file)
		}
		if err := recordOperatorEvent(ctx, db, registry.ActionKeyringRotated, k.ID); err != nil {
			return fmt.Errorf("key %s is the new primary, but recording the rotation in the audit log failed: %w", k.ID, err)
		}
		return nil
	case "promote":
		if len(positional) != 1 {
			return errors.New("usage: tether keys promote ID")
		}
		return promoteKey(ctx, db, file, keys, positional[0], stdout)
	case "status":
		usage, err := keyUsage(ctx, db)
		if err != nil {
			return err
		}
		type keyCount struct {
			ID     string `json:"id"`
			Values int    `json:"values"`
		}
		out := struct {
			Primary string     `json:"primary"`
			Keys    []keyCount `json:"keys"`
			// Replicas: on PostgreSQL, the live replicas and the keys
			// each has loaded (primary first).
			Replicas []store.Replica `json:"replicas,omitempty"`
		}{Primary: keys[0].ID, Keys: []keyCount{}}
		if store.IsPostgresURL(db) {
			if out.Replicas, err = liveReplicas(ctx, db); err != nil {
				return err
			}
		}
		for _, k := range keys {
			out.Keys = append(out.Keys, keyCount{ID: k.ID, Values: usage[k.ID]})
			delete(usage, k.ID)
		}
		// Values under keys the file no longer has: they cannot be read.
		for _, id := range sortedKeys(usage) {
			out.Keys = append(out.Keys, keyCount{ID: id, Values: usage[id]})
		}
		return json.NewEncoder(stdout).Encode(out)
	case "retire":
		if len(positional) != 1 {
			return errors.New("usage: tether keys retire ID")
		}
		id := positional[0]
		i := slices.IndexFunc(keys, func(k secrets.Key) bool { return k.ID == id })
		switch {
		case i < 0:
			return fmt.Errorf("key %q is not in %s", id, file)
		case i == 0:
			return fmt.Errorf("key %q is the primary key; rotate first", id)
		}
		usage, err := keyUsage(ctx, db)
		if err != nil {
			return err
		}
		if n := usage[id]; n > 0 {
			return fmt.Errorf("key %q still encrypts %d values; wait for re-encryption to finish (send SIGHUP to tether) and check `tether keys status`", id, n)
		}
		if err := secrets.WriteKeysFile(file, slices.Delete(keys, i, i+1)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "retired key %s\n", id)
		if err := recordOperatorEvent(ctx, db, registry.ActionKeyringRetired, id); err != nil {
			return fmt.Errorf("key %s is retired, but recording it in the audit log failed: %w", id, err)
		}
		return nil
	}
	return fmt.Errorf("unknown keys command %q", args[0])
}

func liveReplicas(ctx context.Context, db string) ([]store.Replica, error) {
	st, err := openStoreForCLI(ctx, db)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return st.LiveReplicas(ctx, replicaLive)
}

// promoteKey makes key id the primary of the keys file, on PostgreSQL
// only once every live replica reports it loaded: from then on each
// replica that reloads writes with a key all others can read.
func promoteKey(ctx context.Context, db, file string, keys []secrets.Key, id string, stdout io.Writer) error {
	i := slices.IndexFunc(keys, func(k secrets.Key) bool { return k.ID == id })
	switch {
	case i < 0:
		return fmt.Errorf("key %q is not in %s", id, file)
	case i == 0:
		return fmt.Errorf("key %q is already the primary key", id)
	}
	if store.IsPostgresURL(db) {
		replicas, err := liveReplicas(ctx, db)
		if err != nil {
			return err
		}
		var lacking []string
		for _, r := range replicas {
			if !slices.Contains(r.KeyIDs, id) {
				lacking = append(lacking, r.ID)
			}
		}
		if len(lacking) > 0 {
			return fmt.Errorf("not every live replica has loaded key %q yet (missing on: %s); "+
				"distribute the keys file and send SIGHUP to them, then promote again", id, strings.Join(lacking, ", "))
		}
	}
	promoted := append([]secrets.Key{keys[i]}, slices.Delete(slices.Clone(keys), i, i+1)...)
	if err := secrets.WriteKeysFile(file, promoted); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "key %s is now the primary in %s; distribute the file and send SIGHUP to every replica to start using it and re-encrypt\n", id, file)
	if err := recordOperatorEvent(ctx, db, registry.ActionKeyringRotated, id); err != nil {
		return fmt.Errorf("key %s is the new primary, but recording the rotation in the audit log failed: %w", id, err)
	}
	return nil
}

func keyUsage(ctx context.Context, db string) (map[string]int, error) {
	st, err := openStoreForCLI(ctx, db)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return st.KeyUsage(ctx)
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// backupCommand runs `tether backup --to FILE`: a consistent online copy.
func backupCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, db := cliFlags("backup", stderr)
	var to string
	fs.StringVar(&to, "to", "", "the backup file to write (must not exist)")
	if _, err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if store.IsPostgresURL(*db) {
		// No pretending: PostgreSQL's own tool makes the consistent
		// copy, and the command fails so that no script takes this for
		// a backup.
		return store.ErrBackupPostgres
	}
	if to == "" {
		return errors.New("usage: tether backup --to FILE")
	}
	st, err := openStoreForCLI(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Backup(ctx, to); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backed up %s to %s; keep the keys file alongside (it is not in the backup)\n", *db, to)
	return nil
}
