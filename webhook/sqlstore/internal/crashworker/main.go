// Command crashworker is the webhook worker process that sqlstore's crash
// test (TestCrashAtLeastOnce) starts and kills with SIGKILL. It opens the
// database named by CRASHWORKER_DSN, unseals endpoint secrets with the
// fakekms AEAD whose key URI is CRASHWORKER_KEY_URI, and delivers
// webhooks until it is killed, or until SIGTERM or SIGINT, when it lets
// the attempts in flight finish and exits 0. It prints "crashworker:
// ready" on standard output once it handles those signals.
//
// Both settings travel in the environment rather than on the command
// line, so that a DSN's password does not show in the process list.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tink-crypto/tink-go/v2/testing/fakekms"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/sqlstore"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "crashworker:", err)
		os.Exit(1)
	}
}

func run() error {
	dsn, keyURI := os.Getenv("CRASHWORKER_DSN"), os.Getenv("CRASHWORKER_KEY_URI")
	if dsn == "" || keyURI == "" {
		return errors.New("CRASHWORKER_DSN and CRASHWORKER_KEY_URI must be set")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	aead, err := fakekms.NewAEAD(keyURI)
	if err != nil {
		return fmt.Errorf("sealing key: %w", err)
	}
	db, err := sqldb.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := sqlstore.New(db.DB)
	if err != nil {
		return err
	}
	d, err := webhook.NewDispatcher(st, st, func(string) webhook.AEAD { return aead }, webhook.DispatcherOptions{})
	if err != nil {
		return err
	}
	// The parent waits for this line before it sends SIGTERM, which would
	// otherwise kill a process that has not yet asked to be told.
	fmt.Println("crashworker: ready")
	return d.Run(ctx, webhook.WorkerOptions{
		Concurrency: 16,
		PerEndpoint: 16, // one endpoint: let it use every slot
		// A short lease brings the work of a killed worker back quickly.
		Lease:      2 * time.Second,
		Poll:       10 * time.Millisecond,
		RetryDelay: func(int) time.Duration { return 100 * time.Millisecond },
		Client: webhook.NewDeliveryClient(webhook.DeliveryClientOptions{
			AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		}),
	})
}
