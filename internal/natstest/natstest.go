// Package natstest connects tests to a NATS server with JetStream: the
// one that SAASKIT_TEST_NATS_URL names, or nats://127.0.0.1:4222.
// Tests skip (with the reason) when it is unreachable, so go test
// passes on a bare machine; CI sets SAASKIT_REQUIRE_NATS=1, and then an
// unreachable server fails them.
package natstest

import (
	"os"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	// EnvURL is the environment variable holding the test server's URL.
	EnvURL = "SAASKIT_TEST_NATS_URL"
	// EnvRequire, set to 1, makes an unreachable server fail tests
	// instead of skipping them.
	EnvRequire = "SAASKIT_REQUIRE_NATS"
	// DefaultURL is the server tried when EnvURL is unset.
	DefaultURL = "nats://127.0.0.1:4222"
)

// URL is the test server's URL: EnvURL's value, or DefaultURL.
func URL() string {
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return DefaultURL
}

// Connect returns a connection to the test server and its JetStream
// client, closed when t ends. It skips t when the server is unreachable,
// or fails it when EnvRequire is 1.
func Connect(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(URL())
	if err != nil {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("%s=1 but NATS at %s is unreachable: %v", EnvRequire, URL(), err)
		}
		t.Skipf("NATS at %s is unreachable (set %s): skipping: %v", URL(), EnvURL, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return nc, js
}
