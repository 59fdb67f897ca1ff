package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// CheckpointFile keeps checkpoints in a file apart from the trail, one
// JSON object a line, appended and synced: where a trail cut back or
// rewritten cannot reach them. Verify each tenant's trail against the
// checkpoints Read returns for it.
type CheckpointFile struct {
	Path string
}

// Append adds checkpoints to the file, made with mode 0600 if need be,
// and syncs it before it returns.
func (f CheckpointFile) Append(cps ...Checkpoint) error {
	file, err := os.OpenFile(f.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit: checkpoint file: %w", err)
	}
	enc := json.NewEncoder(file)
	for _, cp := range cps {
		if err = enc.Encode(cp); err != nil {
			break
		}
	}
	if err == nil {
		err = file.Sync()
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("audit: checkpoint file %s: %w", f.Path, err)
	}
	return nil
}

// Read returns the file's checkpoints by tenant, in the order they were
// taken; none when the file does not exist.
func (f CheckpointFile) Read() (map[string][]Checkpoint, error) {
	file, err := os.Open(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit: checkpoint file: %w", err)
	}
	defer file.Close()
	out := map[string][]Checkpoint{}
	dec := json.NewDecoder(file)
	for {
		var cp Checkpoint
		if err := dec.Decode(&cp); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("audit: checkpoint file %s: %w", f.Path, err)
		}
		out[cp.TenantID] = append(out[cp.TenantID], cp)
	}
}
