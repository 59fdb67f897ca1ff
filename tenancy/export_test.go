package tenancy

// Internals exposed to the tenancy_test package.

var (
	Checksum     = checksum
	Hostname     = hostname
	RandomBase62 = randomBase62
)

const KeyBodyLen, KeySecretLen, MaxHostLen = keyBodyLen, keySecretLen, maxHostLen

// TokenParts splits a token into prefix, key ID and secret.
func TokenParts(s string) (prefix, id, secret string, err error) {
	tk, err := parseToken(s)
	return tk.prefix, tk.id, tk.secret, err
}
