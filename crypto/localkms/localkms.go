package localkms

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/core/registry"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Sentinel errors. Test with errors.Is; messages never hold the
// passphrase or key material.
var (
	// ErrInvalid: an argument failed validation; the message names it.
	ErrInvalid = errors.New("localkms: invalid argument")
	// ErrNotFound: the keyset file (or its directory) does not exist and
	// Options.Create is false (or the directory is missing).
	ErrNotFound = errors.New("localkms: keyset file not found")
	// ErrWrongPassphrase: the file is intact but the passphrase does not
	// open it.
	ErrWrongPassphrase = errors.New("localkms: wrong passphrase")
	// ErrCorrupt: the file is not a well-formed localkms keyset file: bad
	// magic, truncated, oversized, out-of-bounds parameters, checksum
	// mismatch, or a keyset that does not decrypt or parse.
	ErrCorrupt = errors.New("localkms: keyset file corrupt")
)

// URIPrefix starts every key URI this package supports.
const URIPrefix = "local-kms://"

// Defaults and bounds of the Argon2id parameters.
const (
	DefaultTime    = 3
	DefaultMemory  = 64 * 1024 // KiB, so 64 MiB
	DefaultThreads = 4

	MinPassphraseLen = 16
	maxTime          = 32
	maxMemory        = 1 << 20 // KiB, so 1 GiB
)

// Options configure a Client. The zero value is a sensible default.
type Options struct {
	// Create makes GetAEAD create the keyset file, with one fresh
	// AES-256-GCM key, when it does not exist. Default false: a missing
	// file is ErrNotFound.
	Create bool
	// Time is the number of Argon2id passes for files this client
	// creates. Default 3; at most 32.
	Time uint32
	// Memory is the Argon2id memory in KiB for files this client creates.
	// Default 64*1024 (64 MiB); at least 8 KiB per thread, at most 1 GiB.
	// Tests may lower it (64 KiB) to run fast.
	Memory uint32
	// Threads is the Argon2id parallelism for files this client creates.
	// Default 4.
	Threads uint8
}

// Client is a Tink KMS client for "local-kms://" key URIs. Opening a file
// uses the KDF parameters stored in it; Options apply to files the client
// creates. It is safe for concurrent use.
type Client struct {
	passphrase []byte
	opts       Options
	// limits bound the KDF cost a file may ask for (lowered by fuzz tests).
	limits kdfParams
}

var _ registry.KMSClient = (*Client)(nil)

// New returns a Client that opens and creates keyset files with
// passphrase, which must be at least 16 bytes. New copies it.
func New(passphrase []byte, opts Options) (*Client, error) {
	if len(passphrase) < MinPassphraseLen {
		return nil, fmt.Errorf("%w: passphrase must be at least %d bytes", ErrInvalid, MinPassphraseLen)
	}
	if opts.Time == 0 {
		opts.Time = DefaultTime
	}
	if opts.Memory == 0 {
		opts.Memory = DefaultMemory
	}
	if opts.Threads == 0 {
		opts.Threads = DefaultThreads
	}
	limits := kdfParams{time: maxTime, memory: maxMemory, threads: 255}
	if err := (kdfParams{time: opts.Time, memory: opts.Memory, threads: opts.Threads}).check(limits); err != nil {
		return nil, fmt.Errorf("%w: options: %w", ErrInvalid, err)
	}
	return &Client{passphrase: append([]byte(nil), passphrase...), opts: opts, limits: limits}, nil
}

// NewKeyURI returns the key URI of the keyset file at path.
func NewKeyURI(path string) string { return URIPrefix + path }

// Supported reports whether keyURI is a "local-kms://" URI naming a path.
func (c *Client) Supported(keyURI string) bool {
	_, err := pathOf(keyURI)
	return err == nil
}

func pathOf(keyURI string) (string, error) {
	path, ok := strings.CutPrefix(keyURI, URIPrefix)
	if !ok {
		return "", fmt.Errorf("%w: key uri must start with %q", ErrInvalid, URIPrefix)
	}
	if path == "" || strings.ContainsRune(path, 0) {
		return "", fmt.Errorf("%w: key uri must name a file path after %q", ErrInvalid, URIPrefix)
	}
	return path, nil
}

// GetAEAD returns the AEAD of the keyset file that keyURI names: its
// primary key encrypts, all its keys decrypt. With Options.Create it
// creates the file when it does not exist.
func (c *Client) GetAEAD(keyURI string) (tink.AEAD, error) {
	path, err := pathOf(keyURI)
	if err != nil {
		return nil, err
	}
	f, err := c.open(path)
	if errors.Is(err, ErrNotFound) && c.opts.Create {
		f, err = c.create(path)
	}
	if err != nil {
		return nil, err
	}
	a, err := aead.New(f.handle)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, path, err)
	}
	return a, nil
}

// rotateMu serialises rotations within the process.
var rotateMu sync.Mutex

// Rotate adds a fresh AES-256-GCM key to the keyset file keyURI names
// and makes it primary. Old keys stay, so data wrapped under them still
// decrypts. The file is rewritten atomically. AEADs obtained earlier keep
// encrypting with the previous key; call GetAEAD again for the new one.
func (c *Client) Rotate(keyURI string) error {
	path, err := pathOf(keyURI)
	if err != nil {
		return err
	}
	rotateMu.Lock()
	defer rotateMu.Unlock()
	f, err := c.open(path)
	if err != nil {
		return err
	}
	m := keyset.NewManagerFromHandle(f.handle)
	id, err := m.Add(aead.AES256GCMKeyTemplate())
	if err != nil {
		return fmt.Errorf("localkms: rotate %s: %w", path, err)
	}
	if err := m.SetPrimary(id); err != nil {
		return fmt.Errorf("localkms: rotate %s: %w", path, err)
	}
	if f.handle, err = m.Handle(); err != nil {
		return fmt.Errorf("localkms: rotate %s: %w", path, err)
	}
	data, err := f.encode()
	if err != nil {
		return fmt.Errorf("localkms: rotate %s: %w", path, err)
	}
	return replaceFile(path, data)
}
