package saaskit_test

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// corePackages must stay free of drivers and SDKs, so that importing one
// never drags a database, broker or cloud into a service.
var corePackages = []string{"tenancy", "flags", "webhook", "crypto", "gdpr", "versioning", "observability", "backup", "events"}

// forbidden are import-path prefixes of database drivers, message
// brokers and cloud SDKs.
var forbidden = []string{
	"modernc.org/sqlite", "github.com/jackc/pgx", "github.com/lib/pq", "github.com/mattn/go-sqlite3",
	"github.com/go-sql-driver/mysql", "github.com/nats-io/", "github.com/redis/", "github.com/go-redis/",
	"go.mongodb.org/", "cloud.google.com/go", "google.golang.org/api", "github.com/aws/", "github.com/Azure/",
	"github.com/hashicorp/vault", "github.com/tink-crypto/tink-go-gcpkms", "github.com/tink-crypto/tink-go-awskms",
	"github.com/tink-crypto/tink-go-hcvault", "github.com/rabbitmq/", "github.com/segmentio/kafka-go", "github.com/IBM/sarama",
}

// offending lists the forbidden packages pkg depends on (not its tests).
func offending(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", pkg).CombinedOutput()
	require.NoError(t, err, "go list %s: %s", pkg, out)
	var bad []string
	for dep := range strings.FieldsSeq(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				bad = append(bad, dep)
			}
		}
	}
	return bad
}

func TestCorePackagesImportNoDriverOrSDK(t *testing.T) {
	checked := 0
	for _, dir := range corePackages {
		if _, err := os.Stat(dir); err != nil {
			continue // not written yet
		}
		checked++
		assert.Empty(t, offending(t, "./"+dir), "package %s depends on a driver or SDK", dir)
	}
	require.NotZero(t, checked, "no core package found")
}

// The check itself must see a driver where there is one.
func TestLayeringCheckSeesDrivers(t *testing.T) {
	assert.NotEmpty(t, offending(t, "./tenancy/sqlstore"))
}

// TestPackagesStandAlone: gdpr depends on no sibling but tenancy, so
// using it does not pull in the webhook engine or the keyring (their
// adapters live in gdpr/gdprsource); backup depends on none, and takes
// the keyring through an interface of its own.
func TestPackagesStandAlone(t *testing.T) {
	siblings := []string{"tenancy", "webhook", "crypto", "flags", "versioning", "gdpr", "backup", "observability", "events"}
	for pkg, allowed := range map[string][]string{"gdpr": {"gdpr", "tenancy"}, "backup": {"backup"}} {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "./"+pkg).CombinedOutput()
		require.NoError(t, err, "go list: %s", out)
		for dep := range strings.FieldsSeq(string(out)) {
			for _, sibling := range siblings {
				prefix := "github.com/saaskit/saaskit/" + sibling
				if !slices.Contains(allowed, sibling) {
					assert.False(t, dep == prefix || strings.HasPrefix(dep, prefix+"/"), "%s depends on %s", pkg, dep)
				}
			}
		}
	}
}
