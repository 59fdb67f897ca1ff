// Package redisstore keeps a consumer's events.Inbox on Redis, for
// consumers whose own state lives outside the SQL database, or that
// share no database.
//
//	inbox := redisstore.NewInbox(client, redisstore.Options{})
//	cons, err := ejs.NewConsumer(ctx, js, "EVENTS", "search", inbox, index, ejs.ConsumerOptions{})
//
// Per consumer, tenant and aggregate it keeps the position last handled
// in one key, and while a handler runs it holds a lock key, so that a
// redelivery in another process waits and then finds the event handled.
//
// # What it promises
//
// An event runs its handler once per consumer while processes live, and
// each aggregate's events run in order. Unlike events/sqlstore, whose
// record commits in the handler's own transaction, Redis cannot commit
// with the handler's writes elsewhere: a process that dies after its
// handler's effects and before the record runs that handler again on
// redelivery, and a handler that runs longer than Options.LockFor may
// run beside a redelivery in another process. Make such handlers
// idempotent, or keep their state in SQL with events/sqlstore.
package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/saaskit/saaskit/events"
)

// Options configure an Inbox. The zero value is a sensible default.
type Options struct {
	// Prefix starts every key the inbox writes, so that applications and
	// environments can share a server. Default "saaskit:".
	Prefix string
	// LockFor is how long a handler may run before a redelivery in
	// another process may run it too. Default 30 s, as the JetStream
	// consumer's AckWait.
	LockFor time.Duration
	// Poll is how often a redelivery checks whether the handler that
	// holds the lock has finished. Default 5 ms.
	Poll time.Duration
}

// Inbox is an events.Inbox on Redis.
type Inbox struct {
	client redis.UniversalClient
	prefix string
	opts   Options
}

var _ events.Inbox = (*Inbox)(nil)

// NewInbox returns an Inbox that keeps its records through client (a
// *redis.Client, *redis.ClusterClient or other UniversalClient).
func NewInbox(client redis.UniversalClient, opts Options) *Inbox {
	if opts.Prefix == "" {
		opts.Prefix = "saaskit:"
	}
	if opts.LockFor <= 0 {
		opts.LockFor = 30 * time.Second
	}
	if opts.Poll <= 0 {
		opts.Poll = 5 * time.Millisecond
	}
	return &Inbox{client: client, prefix: opts.Prefix + "events:inbox:", opts: opts}
}

// record sets KEYS[1], the last position handled, to ARGV[1] unless it
// already holds that position or a later one, and returns the position
// it held before (0 for none).
var record = redis.NewScript(`
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local seq = tonumber(ARGV[1])
if seq > last then redis.call('SET', KEYS[1], ARGV[1]) end
return last
`)

// unlock deletes the lock KEYS[1] if it still holds the token ARGV[1].
var unlock = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// Process implements events.Inbox.
func (in *Inbox) Process(ctx context.Context, consumer string, e *events.Event, h events.Handler) (events.Outcome, error) {
	agg, seq := events.InboxKey(e)
	// The braces keep an aggregate's keys in one cluster slot.
	base := in.prefix + "{" + consumer + "\x00" + e.TenantID + "\x00" + agg + "}"
	last, lock := base+":last", base+":lock"
	if h == nil { // record, past any gap, without running anything
		before, err := record.Run(ctx, in.client, []string{last}, seq).Int64()
		if err != nil {
			return 0, fmt.Errorf("events redisstore: record %s: %w", e.ID, err)
		}
		if seq <= before {
			return events.Duplicate, nil
		}
		return events.Handled, nil
	}
	token, err := in.lock(ctx, lock)
	if err != nil {
		return 0, fmt.Errorf("events redisstore: lock %s: %w", e.ID, err)
	}
	defer func() { _ = unlock.Run(context.WithoutCancel(ctx), in.client, []string{lock}, token).Err() }()
	handled, err := in.client.Get(ctx, last).Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, fmt.Errorf("events redisstore: read %s: %w", e.ID, err)
	}
	switch {
	case seq <= handled:
		return events.Duplicate, nil
	case seq > handled+1:
		return events.Early, nil
	}
	if err := h(ctx, e); err != nil {
		return 0, err
	}
	// The handler's effects are done: record them even if ctx ends now.
	if err := record.Run(context.WithoutCancel(ctx), in.client, []string{last}, seq).Err(); err != nil {
		return 0, fmt.Errorf("events redisstore: record %s after its handler ran: %w", e.ID, err)
	}
	return events.Handled, nil
}

// lock takes the lock key for LockFor, waiting while another process
// holds it, and returns its token.
func (in *Inbox) lock(ctx context.Context, key string) (string, error) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	token := hex.EncodeToString(b)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		ok, err := in.client.SetNX(ctx, key, token, in.opts.LockFor).Result()
		if err != nil || ok {
			return token, err
		}
		t.Reset(in.opts.Poll)
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-t.C:
		}
	}
}
