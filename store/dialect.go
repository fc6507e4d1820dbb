package store

import "database/sql"

// dialect is what differs between the backends beyond their migrations.
// The store's statements are written once, in the SQL both accept, with
// `?` placeholders and integer booleans (pgConn adapts them for
// PostgreSQL); the few that cannot be are here, both versions side by
// side.
type dialect struct {
	// name is the backend's OpenTelemetry db.system.name.
	name string
	// byIDs reads listed rows by a JSON array of ids (the first argument)
	// for one tenant (the second), the ids driving the join.
	byIDs string
	// writeTx is how write transactions begin. SQLite's single writer
	// connection (BEGIN IMMEDIATE) serializes them; PostgreSQL runs them
	// SERIALIZABLE, and inTx retries one that lost to a concurrent one,
	// so that every read-modify-write behaves as on SQLite.
	writeTx *sql.TxOptions
	// readTx is how a read that needs one snapshot across statements
	// begins (SQLite: every transaction is one snapshot).
	readTx *sql.TxOptions
	// attempts bounds inTx's runs of one transaction.
	attempts int
	// touchRefresh, when set, writes the usual routine refresh in one
	// statement (touchRefreshSQL), else in one per table.
	touchRefresh string
}

var sqliteDialect = dialect{
	name: "sqlite",
	byIDs: `SELECT ` + listingColumns + `
		FROM (SELECT value AS wanted FROM json_each(?)) CROSS JOIN connections ON id = wanted
		WHERE tenant_id = ?`,
	attempts: 1,
}

var postgresDialect = dialect{
	name: "postgresql",
	byIDs: `SELECT ` + listingColumns + `
		FROM json_array_elements_text(?::json) AS w (wanted) JOIN connections ON id = wanted
		WHERE tenant_id = ?`,
	writeTx:      &sql.TxOptions{Isolation: sql.LevelSerializable},
	readTx:       &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true},
	attempts:     20,
	touchRefresh: touchRefreshSQL,
}
