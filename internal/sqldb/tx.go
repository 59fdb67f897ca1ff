package sqldb

import (
	"context"
	"database/sql"
	"runtime"
	"sync"
	"weak"
)

// InTx runs fn in a transaction, committing when fn returns nil and
// rolling back otherwise (also when fn panics).
//
// On SQLite, which has one writer at a time, the process's InTx calls on
// one *sql.DB take turns, first come first served, before they begin:
// SQLite's busy handler only polls, up to every 100 ms, so a writer
// waiting on it can lose every race to writers that arrive between its
// polls and fail with SQLITE_BUSY although the database is merely busy.
// The busy timeout then only covers other processes, and transactions
// begun outside InTx.
func (db *DB) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if db.Dialect == SQLite {
		turn := writeTurn(db.DB)
		select {
		case turn <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		defer func() { <-turn }()
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// writeTurns holds, per SQLite *sql.DB, the token its write transactions
// pass along: a channel of capacity one, whose blocked senders go in
// arrival order. An entry goes when its *sql.DB is garbage collected.
var writeTurns sync.Map // weak.Pointer[sql.DB] → chan struct{}

// writeTurn returns the write token channel of db.
func writeTurn(db *sql.DB) chan struct{} {
	key := weak.Make(db)
	if turn, ok := writeTurns.Load(key); ok {
		return turn.(chan struct{})
	}
	turn, loaded := writeTurns.LoadOrStore(key, make(chan struct{}, 1))
	if !loaded {
		runtime.AddCleanup(db, func(k weak.Pointer[sql.DB]) { writeTurns.Delete(k) }, key)
	}
	return turn.(chan struct{})
}
