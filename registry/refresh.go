package registry

import (
	"context"
	"reflect"
)

// A probe that finds a server exactly as its row already says (the same
// status, transport, protocol version, server info, and the same tools
// with the same fingerprints, slugs, positions and approval states) only
// moves timestamps: last_refreshed_at, connected_at, tools_synced_at, each
// tool's last_seen_at and updated_at, and the last_seen_at of each tool's
// current version. The health monitor makes such probes of every
// connection, every interval, and so does every connection test of a
// server that did not change. Such a write is a routine refresh: the store
// may write those timestamps alone (not the whole row and every tool's
// definition again) and commit without waiting for the disk (SQLite:
// synchronous=NORMAL for that transaction, where every other write waits
// for its fsync), and no change is announced (nothing an agent sees
// changed).
//
// A routine refresh survives a crash of tether; a power loss may take the
// last ones back, leaving the timestamps of the refresh before (the next
// probe moves them again). The journal keeps commits in order: a refresh
// is never kept while an earlier commit is lost, and every durable commit
// after it makes it durable too.

type routineKey struct{}

// WithRoutineRefresh marks ctx's write transaction as a routine refresh
// (see above): the caller guarantees it changes nothing but those
// timestamps (of the connection, and of the tools it returns to
// Store.UpdateConnectionTools, which then returns the tools it read).
func WithRoutineRefresh(ctx context.Context) context.Context {
	return context.WithValue(ctx, routineKey{}, true)
}

// IsRoutineRefresh reports whether ctx's write is a routine refresh, which
// a store may commit without waiting for the disk.
func IsRoutineRefresh(ctx context.Context) bool {
	v, _ := ctx.Value(routineKey{}).(bool)
	return v
}

// sameButTimes reports whether two states of a connection differ at most
// in the timestamps a probe moves.
func sameButTimes(a, b *Connection) bool {
	x, y := *a, *b
	x.ConnectedAt, x.ToolsSyncedAt, x.LastRefreshedAt = nil, nil, nil
	y.ConnectedAt, y.ToolsSyncedAt, y.LastRefreshedAt = nil, nil, nil
	return reflect.DeepEqual(x, y)
}

// toolsSameButTimes reports whether merged, the tools a probe would store,
// are before (the stored ones) with at most their last_seen_at, updated_at
// and version's last_seen_at moved: no tool added, dropped, renamed,
// re-slugged, redefined or judged differently.
func toolsSameButTimes(before []Tool, merged []*Tool) bool {
	if len(before) != len(merged) {
		return false
	}
	byID := make(map[string]*Tool, len(before))
	for i := range before {
		byID[before[i].ID] = &before[i]
	}
	for _, t := range merged {
		b, ok := byID[t.ID]
		if !ok || t.Removed || (t.Version != nil && (t.Version.Hash != t.DefinitionHash ||
			t.Version.ApprovedAt != nil || t.Version.RejectedAt != nil)) {
			return false
		}
		x, y := *b, *t
		x.LastSeenAt, x.UpdatedAt, x.Version = y.LastSeenAt, y.UpdatedAt, nil
		y.Version = nil
		if !reflect.DeepEqual(x, y) {
			return false
		}
	}
	return true
}
