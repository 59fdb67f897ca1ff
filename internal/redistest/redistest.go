// Package redistest connects tests to a Redis server: the one that
// SAASKIT_TEST_REDIS_URL names, or redis://127.0.0.1:6379/0. Without
// the variable, tests skip (with the reason) when that default server
// is unreachable, so go test passes on a bare machine; CI sets
// SAASKIT_REQUIRE_REDIS=1, and then an unreachable server fails them.
// Each test writes under a key prefix of its own, deleted when it ends,
// and Proxy lets a test take the server away and bring it back.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// EnvURL is the environment variable holding the test server's URL.
	EnvURL = "SAASKIT_TEST_REDIS_URL"
	// EnvRequire, set to anything but empty, makes an unreachable server
	// fail tests instead of skipping them.
	EnvRequire = "SAASKIT_REQUIRE_REDIS"
	// DefaultURL is the server tried when EnvURL is unset.
	DefaultURL = "redis://127.0.0.1:6379/0"
)

// Options returns the options of the test server's clients, after
// checking that it answers: it skips t when EnvURL and EnvRequire are
// unset and the default server is unreachable, and fails t when either
// is set and the server is unreachable.
func Options(t testing.TB) *redis.Options {
	t.Helper()
	url, explicit := os.LookupEnv(EnvURL)
	if !explicit || url == "" {
		url, explicit = DefaultURL, false
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("redistest: %s is not a Redis URL: %v", EnvURL, err)
	}
	c := redis.NewClient(opts)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		if !explicit && os.Getenv(EnvRequire) == "" {
			t.Skipf("redistest: %s is unset and no Redis answers at %s (%v): skipping Redis", EnvURL, DefaultURL, err)
		}
		t.Fatalf("redistest: Redis at %s is unreachable (%s=%q): %v", opts.Addr, EnvRequire, os.Getenv(EnvRequire), err)
	}
	return opts
}

// Client returns a client of the test server (see Options), closed when
// t ends.
func Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(Options(t))
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Prefix returns a key prefix that no other test uses,
// "saaskit-test:<random>:", and deletes the keys under it when t ends.
func Prefix(t testing.TB, c redis.UniversalClient) string {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	prefix := "saaskit-test:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("redistest: list keys under %s: %v", prefix, err)
			return
		}
		for len(keys) > 0 {
			n := min(len(keys), 1000)
			if err := c.Del(ctx, keys[:n]...).Err(); err != nil {
				t.Errorf("redistest: delete keys under %s: %v", prefix, err)
				return
			}
			keys = keys[n:]
		}
	})
	return prefix
}

// Proxy is a TCP proxy to a Redis server that a test can stop, as if
// the server went down (connections cut, new ones refused), and start
// again on the same address.
type Proxy struct {
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener // nil while stopped
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

// NewProxy starts a proxy to target (host:port), stopped when t ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	p := &Proxy{target: target, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: proxy: %v", err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(func() { p.Stop(); p.wg.Wait() })
	return p
}

// Addr is the address clients dial.
func (p *Proxy) Addr() string { return p.addr }

// Stop cuts every connection and refuses new ones until Start.
func (p *Proxy) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
}

// Start listens again on the proxy's address.
func (p *Proxy) Start() error {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return err
	}
	p.serve(ln)
	return nil
}

// serve accepts connections on ln until it is closed.
func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Go(func() { p.pipe(c) })
		}
	})
}

// pipe joins c to a new connection to the server.
func (p *Proxy) pipe(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	if !p.track(c, s) {
		return
	}
	done := make(chan struct{}, 2)
	copyThenClose := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		_ = dst.Close()
		_ = src.Close()
		done <- struct{}{}
	}
	go copyThenClose(s, c)
	go copyThenClose(c, s)
	<-done
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, s)
	p.mu.Unlock()
}

// track records c and s for Stop to cut, unless the proxy has stopped.
func (p *Proxy) track(c, s net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		_ = c.Close()
		_ = s.Close()
		return false
	}
	p.conns[c], p.conns[s] = struct{}{}, struct{}{}
	return true
}
