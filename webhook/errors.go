package webhook

import "errors"

// Errors. Verification failures are one of the Err* values below, never
// wrapped, so a failed verification costs no allocation; test them with
// errors.Is.
var (
	// ErrInvalidKey: a secret or key cannot be decoded.
	ErrInvalidKey = errors.New("webhook: invalid key")
	// ErrMissingHeader: webhook-id, webhook-timestamp or webhook-signature
	// (or their svix- forms) is absent.
	ErrMissingHeader = errors.New("webhook: missing header")
	// ErrMalformed: a header is present but breaks the format: an id or
	// timestamp with '.', a timestamp that is not an integer, too many
	// signatures, an oversized header.
	ErrMalformed = errors.New("webhook: malformed header")
	// ErrTooOld: the timestamp is older than the tolerance.
	ErrTooOld = errors.New("webhook: timestamp too old")
	// ErrTooNew: the timestamp is further in the future than the tolerance.
	ErrTooNew = errors.New("webhook: timestamp too new")
	// ErrNoMatch: no signature of a supported version matches.
	ErrNoMatch = errors.New("webhook: no matching signature")
	// ErrReplayed: the receiver has already accepted this webhook id.
	ErrReplayed = errors.New("webhook: replayed message")
	// ErrTooLarge: the body is larger than the receiver accepts.
	ErrTooLarge = errors.New("webhook: body too large")
)
