package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"

	"github.com/saaskit/saaskit/gdpr/audit"
	auditstore "github.com/saaskit/saaskit/gdpr/audit/sqlstore"
)

// operatorLog appends what an operator changes from the command line to
// the tenant's audit trail, as the console does for its changes.
type operatorLog struct {
	trail   *audit.Trail
	dataDir string
	actor   string
	key     []byte // the pseudonym key, once read
}

func openOperatorLog(ctx context.Context, db *sql.DB, dataDir string) (*operatorLog, error) {
	trail, st, err := auditTrail(db)
	if err == nil {
		err = st.Migrate(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("audit trail: %w", err)
	}
	return &operatorLog{trail: trail, dataDir: dataDir, actor: operatorName()}, nil
}

// auditTrail is the service's audit trail in db.
func auditTrail(db *sql.DB) (*audit.Trail, *auditstore.Store, error) {
	st, err := auditstore.New(db)
	if err != nil {
		return nil, nil, err
	}
	trail, err := audit.New(st, audit.Options{})
	return trail, st, err
}

// operatorName is who runs the command, as the trail names them.
func operatorName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli"
}

// pseudonymKey is the key subjects are pseudonymised under in the trail:
// $SAASKIT_PSEUDONYM_KEY, else the data directory's pseudonym.key.
func (l *operatorLog) pseudonymKey() ([]byte, error) {
	if l.key != nil {
		return l.key, nil
	}
	if k := os.Getenv("SAASKIT_PSEUDONYM_KEY"); k != "" {
		l.key = []byte(k)
		return l.key, nil
	}
	k, err := os.ReadFile(filepath.Join(l.dataDir, "pseudonym.key"))
	if err != nil || len(k) == 0 {
		return nil, errors.New("set SAASKIT_PSEUDONYM_KEY (the audit trail's pseudonym key); no pseudonym.key in the data directory either")
	}
	l.key = k
	return k, nil
}

// record appends one change; subject, when set, is recorded as its
// pseudonym.
func (l *operatorLog) record(ctx context.Context, tenant, action, subject string, details map[string]string) error {
	r := audit.Record{TenantID: tenant, Actor: l.actor, Action: action, Details: details}
	if subject != "" {
		key, err := l.pseudonymKey()
		if err != nil {
			return err
		}
		r.Subject = audit.Pseudonym(key, tenant, subject)
	}
	if _, err := l.trail.Append(ctx, tenant, r); err != nil {
		return fmt.Errorf("recording %s in the audit trail: %w", action, err)
	}
	return nil
}
