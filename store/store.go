// Package store persists tether's registry in SQLite (modernc.org/sqlite,
// pure Go). It keeps one writer connection, through which every write runs
// in a transaction, and a pool of read-only connections; WAL mode lets the
// readers run while the writer commits. Schema changes are numbered SQL
// files embedded in the binary and applied once each, in a transaction.
//
// Secret-bearing columns (connection headers and secrets) are encrypted
// with the Cipher given at Open, bound by associated data to their tenant,
// table, column and row, so a ciphertext copied elsewhere does not decrypt.
// What lists show of them (secret names, header templates) is kept
// unencrypted beside them, so lists decrypt nothing (listing.go).
//
//	st, err := store.Open(ctx, "tether.db", store.Options{Cipher: keyring})
//	defer st.Close()
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"time"

	"github.com/tether-dev/tether/registry"
	"github.com/tether-dev/tether/secrets"
	"go.opentelemetry.io/otel/trace"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Cipher encrypts and decrypts column values (a *secrets.Keyring or
// *secrets.Holder).
type Cipher interface {
	Encrypt(plaintext []byte, aad secrets.AAD) ([]byte, error)
	Decrypt(ciphertext []byte, aad secrets.AAD) ([]byte, error)
}

// Options configures Open.
type Options struct {
	// Cipher is required for anything that touches connections; the API-key
	// commands run without one.
	Cipher Cipher
	Logger *slog.Logger
	// Readers is the size of the read pool; 0 means max(4, 2×GOMAXPROCS).
	Readers int
	// ObserveWrite, when set, hears how long each write transaction took.
	ObserveWrite func(time.Duration)
	// TracerProvider, when set, records a span for each write transaction
	// that took SlowTx or longer (trace.go); nil records none.
	TracerProvider trace.TracerProvider
	// SlowTx is that threshold; 0 means DefaultSlowTx.
	SlowTx time.Duration
}

// Store is the SQLite-backed implementation of the registry's stores.
type Store struct {
	write        *sql.DB // exactly one connection: SQLite has one writer anyway
	read         *sql.DB
	cipher       Cipher
	log          *slog.Logger
	observeWrite func(time.Duration)
	slow         slowTx
	// keyLookup is prepared once: every authenticated request runs it, and
	// parsing SQL is a visible share of a request's cost.
	keyLookup *sql.Stmt
	// connLookup reads one connection (every id route, every probe).
	connLookup *sql.Stmt
	// toolsLookup reads one connection's tools.
	toolsLookup *sql.Stmt
	// lists holds the list statements and what lists remember.
	lists *listing
}

// Open opens (creating if needed) the database at path and migrates it.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// busy_timeout first so that the later pragmas wait for a lock instead
	// of failing when another process (tether apikey) holds it.
	// synchronous(FULL): a commit acknowledged to a client survives a power
	// loss too, not only a process crash.
	pragmas := "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(ON)"
	base := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + pragmas
	write, err := sql.Open("sqlite", base+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	if err := write.PingContext(ctx); err != nil {
		write.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := restrictMode(path); err != nil {
		write.Close()
		return nil, err
	}
	if err := migrate(ctx, write); err != nil {
		write.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	readers := opts.Readers
	if readers <= 0 {
		readers = max(4, 2*runtime.GOMAXPROCS(0))
	}
	read, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open %s for reading: %w", path, err)
	}
	read.SetMaxOpenConns(readers)
	read.SetMaxIdleConns(readers)
	read.SetConnMaxIdleTime(5 * time.Minute)
	keyLookup, err := read.PrepareContext(ctx, keyLookupSQL)
	if err != nil {
		read.Close()
		write.Close()
		return nil, fmt.Errorf("prepare API key lookup: %w", err)
	}
	connLookup, err := read.PrepareContext(ctx, getConnectionSQL)
	if err != nil {
		keyLookup.Close()
		read.Close()
		write.Close()
		return nil, fmt.Errorf("prepare connection lookup: %w", err)
	}
	toolsLookup, err := read.PrepareContext(ctx, toolsOfConnectionSQL)
	if err != nil {
		connLookup.Close()
		keyLookup.Close()
		read.Close()
		write.Close()
		return nil, fmt.Errorf("prepare tools lookup: %w", err)
	}
	lists, err := prepareListing(ctx, read)
	if err != nil {
		toolsLookup.Close()
		connLookup.Close()
		keyLookup.Close()
		read.Close()
		write.Close()
		return nil, err
	}
	return &Store{write: write, read: read, cipher: opts.Cipher, log: logger, observeWrite: opts.ObserveWrite,
		slow:      newSlowTx(opts.TracerProvider, opts.SlowTx),
		keyLookup: keyLookup, connLookup: connLookup, toolsLookup: toolsLookup, lists: lists}, nil
}

// restrictMode makes the database file and its journals, where they
// exist, readable by tether's user alone (0600). They hold only ciphertext
// for secrets, but they are tether's alone; SQLite gives the journals it
// creates later the database file's mode.
func restrictMode(path string) error {
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		fi, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist) && p != path:
			continue // no such journal
		case err != nil:
			return fmt.Errorf("restrict the mode of %s: %w", p, err)
		case fi.Mode().Perm() == 0o600:
			continue // nothing to do, and no need to own the file
		}
		if err := os.Chmod(p, 0o600); err != nil {
			return fmt.Errorf("restrict the mode of %s: %w", p, err)
		}
	}
	return nil
}

// Close closes both pools; the WAL is checkpointed by the last connection.
func (s *Store) Close() error {
	return errors.Join(s.keyLookup.Close(), s.connLookup.Close(), s.toolsLookup.Close(), s.lists.close(), s.read.Close(), s.write.Close())
}

// Ping checks that the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.read.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// inTx runs fn in a write transaction (BEGIN IMMEDIATE), committing when it
// returns nil. The audit events pending on ctx's trail (registry.AuditTrail)
// are inserted in the same transaction, after fn; when fn fails they are
// dropped with the change.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if s.observeWrite != nil || s.slow.on() {
		start := time.Now()
		defer func() {
			d := time.Since(start)
			if s.observeWrite != nil {
				s.observeWrite(d)
			}
			s.slow.record(ctx, start, d)
		}()
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		registry.TakeAudit(ctx) // the change failed: so do its records
		return err
	}
	// The audit records of the change commit with it, or not at all.
	if err := insertAudit(ctx, tx, registry.TakeAudit(ctx)); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// timeFormat is how timestamps are stored: UTC, millisecond precision,
// fixed width so that text order is time order.
const timeFormat = "2006-01-02T15:04:05.000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

func formatTimePtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return formatTime(*t)
}

func parseTime(s string) (time.Time, error) { return time.Parse(timeFormat, s) }

func parseTimePtr(s sql.NullString) (*time.Time, error) {
	if !s.Valid {
		return nil, nil
	}
	t, err := parseTime(s.String)
	if err != nil {
		return nil, err
	}
	return &t, nil
}
