package backup

import (
	"archive/tar"
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testLabel = `START WAL LOCATION: 0/2000028 (file 000000010000000000000002)
CHECKPOINT LOCATION: 0/2000060
BACKUP METHOD: streamed
BACKUP FROM: primary
START TIME: 2026-12-05 08:08:33 UTC
LABEL: pg_basebackup base backup
START TIMELINE: 1
`

const testManifest = `{ "PostgreSQL-Backup-Manifest-Version": 1,
"Files": [
{ "Path": "backup_label", "Size": 225, "Last-Modified": "2026-12-05 08:08:33 GMT", "Checksum-Algorithm": "CRC32C", "Checksum": "c4d1a2e4" }
],
"WAL-Ranges": [
{ "Timeline": 1, "Start-LSN": "0/2000028", "End-LSN": "0/2000100" }
],
"Manifest-Checksum": "cf943ea20c6a6764cdeae9936f913a09d3450e13943e9973ef9aa6ff76acf5e3"}
`

// baseTar is a tar stream as pg_basebackup writes one.
func baseTar(t testing.TB, files map[string]string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range []string{"backup_label", "PG_VERSION", "./pg_wal/", "backup_manifest"} {
		body, ok := files[name]
		if !ok {
			continue
		}
		hdr := &tar.Header{Name: name, Mode: 0o600, Size: int64(len(body)), Typeflag: tar.TypeReg}
		if strings.HasSuffix(name, "/") {
			hdr = &tar.Header{Name: name, Mode: 0o700, Typeflag: tar.TypeDir}
		}
		require.NoError(t, tw.WriteHeader(hdr))
		_, err := tw.Write([]byte(body))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	return buf.Bytes()
}

func TestReadPGBaseInfo(t *testing.T) {
	var pb PGBase
	err := readPGBaseInfo(bytes.NewReader(baseTar(t, map[string]string{
		"backup_label": testLabel, "PG_VERSION": "15\n", "./pg_wal/": "", "backup_manifest": testManifest,
	})), &pb)
	require.NoError(t, err)
	assert.Equal(t, PGBase{Label: "pg_basebackup base backup", Timeline: 1, StartLSN: "0/2000028", StopLSN: "0/2000100",
		StartWAL: "000000010000000000000002", ServerStart: time.Date(2026, 12, 5, 8, 8, 33, 0, time.UTC)}, pb)

	pb = PGBase{}
	err = parseBackupLabel(strings.NewReader(strings.Replace(testLabel, " UTC", " CEST", 1)), &pb)
	require.NoError(t, err)
	assert.Zero(t, pb.ServerStart, "a zone Go cannot place is not trusted")

	for _, bad := range []string{"", "START WAL LOCATION: 0/2000028\n", "START WAL LOCATION: 0/1 (file 0000)\n",
		testLabel + "START TIMELINE: x\n"} {
		assert.ErrorIs(t, parseBackupLabel(strings.NewReader(bad), &PGBase{}), ErrInvalid, "%q", bad)
	}
	for _, bad := range []string{"", "{", `{"WAL-Ranges": []}`, `{"WAL-Ranges": [{"Timeline": 1, "End-LSN": "x"}]}`} {
		_, err := parseManifestStop(strings.NewReader(bad), 1)
		assert.ErrorIs(t, err, ErrInvalid, "%q", bad)
	}
}

func TestPGExtractRefusesEscapes(t *testing.T) {
	for _, name := range []string{"../evil", "/etc/evil", "a/../../evil"} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: 1, Typeflag: tar.TypeReg}))
		_, _ = tw.Write([]byte("x"))
		require.NoError(t, tw.Close())
		dir := t.TempDir()
		err := pgExtract(&buf, dir, &PGRestored{})
		assert.ErrorIs(t, err, ErrCorrupt, name)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "pg_tblspc/16384", Linkname: "/srv/ts", Typeflag: tar.TypeSymlink}))
	require.NoError(t, tw.Close())
	assert.ErrorIs(t, pgExtract(&buf, t.TempDir(), &PGRestored{}), ErrInvalid)
}

func TestPGConfQuote(t *testing.T) {
	assert.Equal(t, `'a ''b'' \\c %f'`, pgConfQuote(`a 'b' \c %f`))
}

// FuzzReadPGBaseInfo: a base backup's stream is read without a panic,
// whatever it holds.
func FuzzReadPGBaseInfo(f *testing.F) {
	f.Add(baseTar(f, map[string]string{"backup_label": testLabel, "backup_manifest": testManifest}))
	f.Add([]byte(testLabel))
	f.Fuzz(func(t *testing.T, data []byte) {
		var pb PGBase
		_ = readPGBaseInfo(bytes.NewReader(data), &pb)
		_ = parseBackupLabel(bytes.NewReader(data), &pb)
		_, _ = parseManifestStop(bytes.NewReader(data), 1)
	})
}
