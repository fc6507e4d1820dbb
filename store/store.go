// Package store persists tether's registry in SQLite (modernc.org/sqlite,
// pure Go), the embedded default, or in PostgreSQL (pgx), which several
// tether replicas share.
//
// On SQLite it keeps one writer connection, through which every write
// runs in a transaction, and a pool of read-only connections; WAL mode
// lets the readers run while the writer commits. On PostgreSQL one pgx
// pool serves both; write transactions run SERIALIZABLE and are retried
// when a concurrent one wins, so every read-modify-write behaves as under
// SQLite's single writer, across replicas too. The statements and the
// row mapping are shared; what differs sits side by side in dialect.go.
// Schema changes are numbered SQL files per backend, embedded in the
// binary and applied once each, in a transaction (migrate.go).
//
// Secret-bearing columns (connection headers and secrets) are encrypted
// with the Cipher given at Open, bound by associated data to their tenant,
// table, column and row, so a ciphertext copied elsewhere does not decrypt.
// What lists show of them (secret names, header templates) is kept
// unencrypted beside them, so lists decrypt nothing (listing.go).
//
//	st, err := store.Open(ctx, "tether.db", store.Options{Cipher: keyring})
//	st, err := store.Open(ctx, "postgres://tether@db/tether", store.Options{Cipher: keyring})
//	defer st.Close()
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
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
	// MaxConns is the PostgreSQL pool size; 0 means DefaultMaxConns.
	MaxConns int
	// StatementTimeout bounds each PostgreSQL statement; 0 means
	// DefaultStatementTimeout, negative none.
	StatementTimeout time.Duration
}

// Store is the implementation of the registry's stores.
type Store struct {
	// On SQLite, write is exactly one connection (SQLite has one writer
	// anyway) and read a pool of read-only ones; on PostgreSQL both are
	// the one handle over pg.
	write        *sql.DB
	read         *sql.DB
	pg           *pgxpool.Pool // nil on SQLite
	dialect      *dialect
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
	// writes are hotWrites prepared on the writer, by query text.
	writes map[string]*sql.Stmt
	// lists holds the list statements and what lists remember.
	lists *listing
	// lightWriter: the SQLite writer may commit with synchronous=NORMAL
	// (writer); guarded by holding the writer.
	lightWriter bool
}

// Open opens (creating if needed) the database at path, a SQLite file or
// a postgres:// URL (IsPostgresURL), and migrates it.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if IsPostgresURL(path) {
		db, pool, err := openPostgres(ctx, path, opts)
		if err != nil {
			return nil, err
		}
		st, err := newStore(ctx, db, db, &postgresDialect, opts)
		if err != nil {
			db.Close()
			pool.Close()
			return nil, err
		}
		st.pg = pool
		return st, nil
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
	st, err := newStore(ctx, write, read, &sqliteDialect, opts)
	if err != nil {
		read.Close()
		write.Close()
		return nil, err
	}
	return st, nil
}

// newStore prepares the statements every request runs on an open,
// migrated database.
func newStore(ctx context.Context, write, read *sql.DB, d *dialect, opts Options) (*Store, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	keyLookup, err := read.PrepareContext(ctx, keyLookupSQL)
	if err != nil {
		return nil, fmt.Errorf("prepare API key lookup: %w", err)
	}
	connLookup, err := read.PrepareContext(ctx, getConnectionSQL)
	if err != nil {
		keyLookup.Close()
		return nil, fmt.Errorf("prepare connection lookup: %w", err)
	}
	toolsLookup, err := read.PrepareContext(ctx, toolsOfConnectionSQL)
	if err != nil {
		connLookup.Close()
		keyLookup.Close()
		return nil, fmt.Errorf("prepare tools lookup: %w", err)
	}
	lists, err := prepareListing(ctx, read, d)
	if err != nil {
		toolsLookup.Close()
		connLookup.Close()
		keyLookup.Close()
		return nil, err
	}
	writes, err := prepareWrites(ctx, write, d)
	if err != nil {
		lists.close()
		toolsLookup.Close()
		connLookup.Close()
		keyLookup.Close()
		return nil, err
	}
	return &Store{write: write, read: read, dialect: d, cipher: opts.Cipher, log: logger, observeWrite: opts.ObserveWrite,
		slow:      newSlowTx(opts.TracerProvider, opts.SlowTx, d.name),
		keyLookup: keyLookup, connLookup: connLookup, toolsLookup: toolsLookup, lists: lists, writes: writes}, nil
}

// Postgres reports whether the store is on PostgreSQL.
func (s *Store) Postgres() bool { return s.pg != nil }

// rowIDOf is the SQL expression of col's row id in this backend.
func (s *Store) rowIDOf(col encColumn) string {
	if s.pg != nil {
		return col.pgRowID
	}
	return col.rowID
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

// Close closes both pools; on SQLite the WAL is checkpointed by the last
// connection.
func (s *Store) Close() error {
	errs := []error{s.keyLookup.Close(), s.connLookup.Close(), s.toolsLookup.Close(), s.lists.close(), closeStmts(s.writes), s.read.Close()}
	if s.write != s.read {
		errs = append(errs, s.write.Close())
	}
	if s.pg != nil {
		s.pg.Close()
	}
	return errors.Join(errs...)
}

// Ping checks that the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.read.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// inTx runs fn in a write transaction (SQLite: BEGIN IMMEDIATE;
// PostgreSQL: SERIALIZABLE), committing when it returns nil. The audit
// events pending on ctx's trail (registry.AuditTrail) are inserted in the
// same transaction, after fn; when fn fails they are dropped with the
// change. On PostgreSQL a transaction that lost to a concurrent one
// (serialization failure, deadlock) runs again, fn included, so fn must
// leave nothing behind but its writes in tx.
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
	// A rerun starts from the records made before the transaction.
	restore := registry.SaveAudit(ctx)
	var err error
	for attempt := range s.dialect.attempts {
		if attempt > 0 {
			// Back off a little, at random, so the losers do not collide
			// again in step.
			select {
			case <-ctx.Done():
				return err
			case <-time.After(time.Duration(1+rand.IntN(5*attempt)) * time.Millisecond):
			}
			restore()
		}
		// A rerun waits for the retry lane (PostgreSQL): the
		// transactions that lost once run one at a time, so that under
		// contention (every write to a tenant's connections updates its
		// counts row) they stop colliding with each other.
		err = s.runTx(ctx, fn, attempt > 0)
		if !retryable(err) {
			return err
		}
	}
	return err
}

// retryLane is the PostgreSQL advisory lock key of the retry lane (any
// constant distinct from migrationLock).
const retryLane = 0x746574686572 + 1

func (s *Store) runTx(ctx context.Context, fn func(tx *sql.Tx) error, lane bool) error {
	var beginner interface {
		BeginTx(context.Context, *sql.TxOptions) (*sql.Tx, error)
	} = s.write
	if lane && s.pg != nil {
		// A session lock, taken before BEGIN: a SERIALIZABLE transaction
		// takes its snapshot at its first statement, which must come
		// after the wait.
		conn, err := s.write.Conn(ctx)
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(?)", int64(retryLane)); err != nil {
			return fmt.Errorf("wait for the retry lane: %w", err)
		}
		defer func() {
			if _, err := conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(?)", int64(retryLane)); err != nil {
				// The lock goes with the session: drop the connection.
				_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			}
		}()
		beginner = conn
	}
	if s.pg == nil {
		conn, err := s.writer(ctx, registry.IsRoutineRefresh(ctx))
		if err != nil {
			return err
		}
		defer conn.Close()
		beginner = conn
	}
	tx, err := beginner.BeginTx(ctx, s.dialect.writeTx)
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

// writer takes the SQLite writer for a write transaction and sets how it
// commits: a routine refresh (light, registry.IsRoutineRefresh) without
// waiting for the disk, synchronous=NORMAL, which in WAL mode keeps every
// commit through a crash of tether, and in order, but may lose the last
// ones to a power loss; every other write with synchronous=FULL, as Open
// set it. The setting belongs to the connection and can only change
// outside a transaction, so it is set before BEGIN, and only when it
// changes: a run of routine refreshes (a monitor round, repeated tests)
// sets NORMAL once, and the next other write puts FULL back first.
//
// s.lightWriter says the writer may be at NORMAL. It is read and written
// only while the writer is held here (the writer is the one connection of
// its pool), and set before NORMAL is: it never says FULL of a writer at
// NORMAL. A writer database/sql opens anew is at FULL (Open's pragmas),
// which at worst costs one needless PRAGMA.
func (s *Store) writer(ctx context.Context, light bool) (*sql.Conn, error) {
	conn, err := s.write.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	switch {
	case light && !s.lightWriter:
		s.lightWriter = true
		if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = NORMAL"); err != nil {
			conn.Close()
			return nil, fmt.Errorf("begin a routine refresh: %w", err)
		}
	case !light && s.lightWriter:
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA synchronous = FULL"); err != nil {
			// Never commit a durable write at NORMAL: drop this writer
			// (database/sql opens a new one, with the pragmas of Open).
			s.log.WarnContext(ctx, "restore synchronous=FULL on the writer; dropping it", "error", err.Error())
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			conn.Close()
			return nil, fmt.Errorf("begin: restore synchronous=FULL: %w", err)
		}
		s.lightWriter = false
	}
	return conn, nil
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
