package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgxlisten"
	"github.com/tether-dev/tether/registry"
)

// changesChannel is the PostgreSQL notification channel of the registry's
// change announcements.
const changesChannel = "tether_changes"

// Bus is the registry's ChangeBus over PostgreSQL LISTEN/NOTIFY: Publish
// queues a change, Run sends the queue with pg_notify and hands the
// changes other replicas sent to deliver. A notification is delivered to
// every listening session, the sender's too; a replica knows its own by
// the origin it stamped on them.
type Bus struct {
	st     *Store
	origin string
	log    *slog.Logger
	queue  chan registry.Change
}

// notice is one change as sent: small, and below PostgreSQL's 8000-byte
// payload bound whatever the ids.
type notice struct {
	Origin       string              `json:"o"`
	TenantID     string              `json:"t"`
	ConnectionID string              `json:"c"`
	Kind         registry.ChangeKind `json:"k"`
}

// busQueue bounds the changes waiting to be sent; beyond it, a change is
// dropped with a log line (the others then rebuild on their next resync).
const busQueue = 4096

// NewBus returns the store's change bus on PostgreSQL, or nil on SQLite
// (one process per database file).
func (s *Store) NewBus(logger *slog.Logger) *Bus {
	if s.pg == nil {
		return nil
	}
	// The origin tells this bus's notices from the others': random, so
	// that two tethers never share one, even in one process.
	nonce := make([]byte, 12)
	_, _ = rand.Read(nonce)
	origin := hex.EncodeToString(nonce)
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Bus{st: s, origin: origin, log: logger, queue: make(chan registry.Change, busQueue)}
}

// Publish implements registry.ChangeBus; it never blocks.
func (b *Bus) Publish(c registry.Change) {
	select {
	case b.queue <- c:
	default:
		b.log.Warn("change announcement dropped: the queue to the other replicas is full",
			"tenant", c.TenantID, "connection", c.ConnectionID)
	}
}

// Run sends queued changes and delivers the other replicas' until ctx
// ends. resync runs each time the listening session (re)connects, since
// announcements sent while it was away are lost.
func (b *Bus) Run(ctx context.Context, deliver func(registry.Change), resync func()) {
	cfg := b.st.pg.Config().ConnConfig
	listener := &pgxlisten.Listener{
		Connect: func(ctx context.Context) (*pgx.Conn, error) { return pgx.ConnectConfig(ctx, cfg.Copy()) },
		LogError: func(_ context.Context, err error) {
			if ctx.Err() == nil {
				b.log.Warn("listening for other replicas' changes", "error", err.Error())
			}
		},
		ReconnectDelay: time.Second,
	}
	listener.Handle(changesChannel, busHandler{b: b, deliver: deliver, resync: resync})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = listener.Listen(ctx)
	}()
	for {
		select {
		case <-ctx.Done():
			<-done
			return
		case c := <-b.queue:
			b.send(ctx, c)
		}
	}
}

func (b *Bus) send(ctx context.Context, c registry.Change) {
	payload, _ := json.Marshal(notice{Origin: b.origin, TenantID: c.TenantID, ConnectionID: c.ConnectionID, Kind: c.Kind})
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := b.st.pg.Exec(ctx, "SELECT pg_notify($1, $2)", changesChannel, string(payload)); err != nil && !errors.Is(err, context.Canceled) {
		b.log.Warn("change announcement not sent to the other replicas", "error", err.Error(),
			"tenant", c.TenantID, "connection", c.ConnectionID)
	}
}

type busHandler struct {
	b       *Bus
	deliver func(registry.Change)
	resync  func()
}

func (h busHandler) HandleNotification(_ context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
	var msg notice
	if err := json.Unmarshal([]byte(n.Payload), &msg); err != nil {
		return err
	}
	if msg.Origin == h.b.origin {
		return nil // our own, applied when made
	}
	h.deliver(registry.Change{TenantID: msg.TenantID, ConnectionID: msg.ConnectionID, Kind: msg.Kind})
	return nil
}

// HandleBacklog runs on every (re)connect of the listening session.
func (h busHandler) HandleBacklog(context.Context, string, *pgx.Conn) error {
	h.resync()
	return nil
}
