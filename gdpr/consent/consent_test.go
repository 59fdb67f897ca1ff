package consent_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/gdpr/consent"
	"github.com/saaskit/saaskit/gdpr/consent/memstore"
)

func TestNew(t *testing.T) {
	_, err := consent.New(nil, consent.Options{})
	assert.ErrorIs(t, err, consent.ErrInvalid)
	assert.ErrorContains(t, err, "store")
}

func TestHash(t *testing.T) {
	assert.Equal(t, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", consent.Hash(""))
	assert.Equal(t, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", consent.Hash("hello"))
}

func TestPseudonym(t *testing.T) {
	key := []byte("a stable secret")
	a, err := consent.New(memstore.New(), consent.Options{PseudonymKey: key})
	require.NoError(t, err)
	b, err := consent.New(memstore.New(), consent.Options{PseudonymKey: key})
	require.NoError(t, err)
	assert.Equal(t, a.Pseudonym("acme", "usr_ada"), b.Pseudonym("acme", "usr_ada"), "the same key gives the same pseudonym")
	assert.NotEqual(t, a.Pseudonym("acme", "usr_ada"), a.Pseudonym("globex", "usr_ada"), "per tenant")
	assert.NotEqual(t, a.Pseudonym("acme", "usr_ad"), a.Pseudonym("acm", "eusr_ad"), "tenant and subject are kept apart")

	c, err := consent.New(memstore.New(), consent.Options{})
	require.NoError(t, err)
	d, err := consent.New(memstore.New(), consent.Options{})
	require.NoError(t, err)
	assert.NotEqual(t, c.Pseudonym("acme", "usr_ada"), d.Pseudonym("acme", "usr_ada"), "without a key, pseudonyms link to nobody")
	assert.Equal(t, c.Pseudonym("acme", "usr_ada"), c.Pseudonym("acme", "usr_ada"))
}

func TestStateAllowed(t *testing.T) {
	for _, tt := range []struct {
		s    consent.State
		want bool
	}{
		{consent.State{Status: consent.Granted}, true},
		{consent.State{Status: consent.Granted, ReconsentRequired: true}, false},
		{consent.State{Status: consent.Withdrawn}, false},
		{consent.State{Status: consent.Expired}, false},
		{consent.State{Status: consent.Never}, false},
	} {
		assert.Equal(t, tt.want, tt.s.Allowed(), "%+v", tt.s)
	}
}
