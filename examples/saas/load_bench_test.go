package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
)

// BenchmarkDemoLoad drives the demo binary, on loopback, with 50
// concurrent clients, each with its own API key of acme (so the plan's
// per-key rate limit does not bound the run), on a write route (POST
// /api/users: two encryptions, a blind index, the user row and its
// user.created event in one transaction) and a read route (GET
// /api/users?email=: a blind-index lookup and two decryptions), on
// SQLite and, when SAASKIT_TEST_POSTGRES_DSN is set, PostgreSQL. It
// reports requests per second and the 99th percentile latency.
func BenchmarkDemoLoad(b *testing.B) {
	const clients = 50
	bin := buildDemo(b)
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine, func(b *testing.B) {
			base := startDemo(b, bin, engine)
			keys := make([]string, clients)
			for i := range keys {
				keys[i] = mintDemoKey(b, base, "acme")
			}
			// A user for the read route to find.
			if status, body := demoRequest(base, "POST", "/api/users", keys[0], `{"email_address":"load@example.com","first_name":"Lo","last_name":"Ad"}`); status != 201 {
				b.Fatalf("create: %d %s", status, body)
			}
			for _, route := range []struct {
				name string
				do   func(key string, i int64) (int, string)
			}{
				{"write", func(key string, i int64) (int, string) {
					return demoRequest(base, "POST", "/api/users", key,
						fmt.Sprintf(`{"email_address":"u%d-%d@example.com","first_name":"U","last_name":"L"}`, time.Now().UnixNano(), i))
				}},
				{"read", func(key string, _ int64) (int, string) {
					return demoRequest(base, "GET", "/api/users?email=load@example.com", key, "")
				}},
			} {
				b.Run(route.name, func(b *testing.B) {
					var next, client atomic.Int64
					var mu sync.Mutex
					var latencies []time.Duration
					b.SetParallelism((clients + 1) / 2)
					b.ReportAllocs()
					start := time.Now()
					b.RunParallel(func(pb *testing.PB) {
						key := keys[int(client.Add(1)-1)%clients]
						var mine []time.Duration
						for pb.Next() {
							t0 := time.Now()
							status, body := route.do(key, next.Add(1))
							mine = append(mine, time.Since(t0))
							if status >= 300 {
								b.Errorf("%s: %d %s", route.name, status, body)
								return
							}
						}
						mu.Lock()
						latencies = append(latencies, mine...)
						mu.Unlock()
					})
					elapsed := time.Since(start)
					slices.Sort(latencies)
					if len(latencies) > 0 {
						b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
					}
					b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
				})
			}
		})
	}
}

// startDemo runs the demo binary on a fresh database of engine and
// returns its base URL; it stops with the benchmark. (A process each:
// otelsetup.Setup runs once per process.)
func startDemo(b *testing.B, bin, engine string) string {
	b.Helper()
	b.Setenv("SAASKIT_OPERATOR_TOKEN", "load-operator")
	var extra []string
	if engine == "postgres" {
		dsn := os.Getenv(sqldbtest.EnvPostgresDSN)
		if dsn == "" {
			b.Skip(sqldbtest.EnvPostgresDSN + " is unset: skipping the demo on PostgreSQL")
		}
		admin, err := sql.Open("pgx", dsn)
		if err != nil {
			b.Fatal(err)
		}
		schema := fmt.Sprintf("load_%d", time.Now().UnixNano())
		if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE"); _ = admin.Close() })
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		extra = []string{"-db", dsn + sep + "options=-csearch_path%3D" + schema}
	}
	s := start(b, bin, b.TempDir(), extra...)
	b.Cleanup(func() { s.Stop(b) })
	return "http://127.0.0.1:" + s.port
}

// mintDemoKey has the operator issue tenant a key.
func mintDemoKey(b *testing.B, base, tenant string) string {
	b.Helper()
	req, _ := http.NewRequest("POST", base+"/admin/tenants/"+tenant+"/keys", strings.NewReader(`{"name":"load","scopes":["tenant:read"]}`))
	req.Header.Set("Authorization", "Bearer load-operator")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var key struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&key); err != nil || key.Token == "" {
		b.Fatalf("mint a key: %d %v", resp.StatusCode, err)
	}
	return key.Token
}

// loadClient keeps enough idle connections for every client.
var loadClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// demoRequest sends one request as key and returns the status and body.
func demoRequest(base, method, path, key, body string) (int, string) {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, r)
	if err != nil {
		return 0, err.Error()
	}
	req.Host = "localhost"
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := loadClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(got)
}
