package health_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
	"github.com/saaskit/saaskit/observability/health"
)

func TestSQL(t *testing.T) {
	db := sqldbtest.OpenSQLite(t)
	check := health.SQL(db.DB)
	require.NoError(t, check(context.Background()))

	require.NoError(t, db.Close())
	err := check(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ping")
}

// fakeAEAD "encrypts" by prefixing the associated data, and can be broken.
type fakeAEAD struct {
	encryptErr, decryptErr error
	corrupt                bool // decrypt returns other bytes
}

func (f fakeAEAD) Encrypt(p, ad []byte) ([]byte, error) {
	if f.encryptErr != nil {
		return nil, f.encryptErr
	}
	return append(bytes.Clone(ad), p...), nil
}

func (f fakeAEAD) Decrypt(c, ad []byte) ([]byte, error) {
	if f.decryptErr != nil {
		return nil, f.decryptErr
	}
	if !bytes.HasPrefix(c, ad) {
		return nil, errors.New("fake: wrong associated data")
	}
	p := bytes.Clone(c[len(ad):])
	if f.corrupt {
		p[0] ^= 1
	}
	return p, nil
}

func TestAEAD(t *testing.T) {
	unavailable := errors.New("kms unavailable")
	tests := []struct {
		name string
		aead fakeAEAD
		want string // "" for pass
	}{
		{"working", fakeAEAD{}, ""},
		{"encrypt fails", fakeAEAD{encryptErr: unavailable}, "encrypt: kms unavailable"},
		{"decrypt fails", fakeAEAD{decryptErr: unavailable}, "decrypt: kms unavailable"},
		{"decrypt returns other bytes", fakeAEAD{corrupt: true}, "decrypt returned other bytes than were encrypted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := health.AEAD(tt.aead)(context.Background())
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			assert.EqualError(t, err, tt.want)
		})
	}
}

func TestQueueThresholds(t *testing.T) {
	const maxDepth, maxAge = 100, time.Minute
	tests := []struct {
		name   string
		depth  int
		oldest time.Duration
		want   health.Status
		output string
	}{
		{"empty", 0, 0, health.StatusPass, ""},
		{"at the thresholds", 100, time.Minute, health.StatusPass, ""},
		{"deep", 101, 0, health.StatusWarn, "health: warn: queue backlog: depth 101 is over 100"},
		{"old", 0, 90 * time.Second, health.StatusWarn, "health: warn: queue backlog: oldest item waited 1m30s, over 1m0s"},
		{"deep and old", 150, 90 * time.Second, health.StatusWarn, "health: warn: queue backlog: depth 150 is over 100; oldest item waited 1m30s, over 1m0s"},
		{"at twice the thresholds", 200, 2 * time.Minute, health.StatusWarn, "health: warn: queue backlog: depth 200 is over 100; oldest item waited 2m0s, over 1m0s"},
		{"over twice the depth", 201, 0, health.StatusFail, "queue backlog: depth 201 is over twice 100"},
		{"over twice the age", 0, 2*time.Minute + time.Second, health.StatusFail, "queue backlog: oldest item waited 2m1s, over twice 1m0s"},
		{"deep, and old twice over", 150, 3 * time.Minute, health.StatusFail, "queue backlog: depth 150 is over 100; oldest item waited 3m0s, over twice 1m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check := health.Queue(func(context.Context) (int, time.Duration, error) {
				return tt.depth, tt.oldest, nil
			}, maxDepth, maxAge)
			c, err := health.New(health.Options{}, health.Check{Name: "queue", Func: check})
			require.NoError(t, err)
			r := c.Check(context.Background()).Checks["queue"][0]
			assert.Equal(t, tt.want, r.Status)
			assert.Equal(t, tt.output, r.Output)
		})
	}
}

func TestQueueStatsErrorFails(t *testing.T) {
	check := health.Queue(func(context.Context) (int, time.Duration, error) {
		return 0, 0, errors.New("no such table")
	}, 100, time.Minute)
	assert.EqualError(t, check(context.Background()), "queue stats: no such table")
}

func TestQueueWithoutThresholdsAlwaysPasses(t *testing.T) {
	check := health.Queue(func(context.Context) (int, time.Duration, error) {
		return math.MaxInt, 1000 * time.Hour, nil
	}, 0, 0)
	assert.NoError(t, check(context.Background()))
}
