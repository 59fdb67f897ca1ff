package backup

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// FuzzSnapshotObjects feeds the parsers of the repository's objects
// (snapshots, indexes, config: the plaintexts after decryption) with
// anything: they return an error or a value that passes their own
// checks again, and never panic.
//
//	go test -run '^$' -fuzz FuzzSnapshotObjects -fuzztime 1m ./backup/
func FuzzSnapshotObjects(f *testing.F) {
	var id chunkID
	id[0] = 1
	snap := snapshotFile{Version: 1, SnapshotInfo: SnapshotInfo{ID: "20260101T000000Z-0a0b", Kind: "tree", Files: 1, Chunks: 1,
		Started: time.Unix(0, 0).UTC(), Size: 5}, Tree: []treeEntry{
		{Path: "d", Type: "dir", Mode: 0o755}, {Path: "d/f", Type: "file", Mode: 0o644, Size: 5, Chunks: []chunkID{id}},
		{Path: "l", Type: "symlink", Link: "d/f"}}}
	stream := snapshotFile{Version: 1, SnapshotInfo: SnapshotInfo{ID: "20260101T000000Z-0a0b", Kind: "stream", Chunks: 2, Size: 10},
		Stream: []chunkID{id, id}}
	index := indexFile{Version: 1, Packs: []indexPack{{ID: packID{2}, Size: 100, Chunks: []indexChunk{
		{ID: id, Offset: 0, Length: 60, Plain: 5}, {ID: chunkID{3}, Offset: 60, Length: 40, Plain: 9}}}}}
	for _, v := range []any{snap, stream, index, repoConfig{Version: 1}} {
		f.Add(mustJSON(v))
	}
	f.Add([]byte(`{"version":1,"packs":[{"id":"00","size":-1}]}`))
	f.Add([]byte(`{"version":1,"id":"20260101T000000Z-0a0b","kind":"tree","tree":[{"path":"../x","type":"file"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if s, err := parseSnapshot("20260101T000000Z-0a0b", data); err == nil {
			again, err := parseSnapshot(s.ID, mustJSON(s))
			require.NoError(t, err)
			require.Equal(t, len(s.chunkIDs()), len(again.chunkIDs()))
			for _, e := range s.Tree {
				require.True(t, validTreePath(e.Path))
			}
		}
		if x, err := parseIndex(data); err == nil {
			_, err := parseIndex(mustJSON(x))
			require.NoError(t, err)
			idx := newRepoIndex()
			idx.add("n", x)
		}
		if c, err := parseConfig(data); err == nil {
			require.Len(t, c.IDKey, 32)
		}
		var lf lockFile
		_ = json.Unmarshal(data, &lf)
	})
}
