package backup

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestWithoutPassword(t *testing.T) {
	dsn, pw := withoutPassword("postgres://app:s3cret@db.internal:5432/prod?sslmode=require")
	assert.Equal(t, "postgres://app@db.internal:5432/prod?sslmode=require", dsn)
	assert.Equal(t, "s3cret", pw)
	dsn, pw = withoutPassword("host=db user=app")
	assert.Equal(t, "host=db user=app", dsn, "other forms pass unchanged")
	assert.Empty(t, pw)
}
