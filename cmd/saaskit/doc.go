// Command saaskit operates a saaskit service from the shell. Every
// command and subcommand has -h/--help, which prints and runs nothing;
// flags go anywhere on the line; "saaskit completion bash|zsh|fish|
// powershell" prints a completion script, which also completes tenant
// IDs and backup IDs from the service.
//
// Backups: runs, lists, verifies, restores and prunes encrypted backups
// in a directory. Without a source, run backs up the service's
// database: saas.db, or with --db the PostgreSQL database (by pg_dump):
//
//	saaskit backup run                 # the service's database
//	saaskit backup run --file ledger.csv --tag nightly
//	saaskit backup list
//	saaskit backup verify              # reads, decrypts and hashes every backup
//	saaskit backup restore <id> --to ./restored.db
//	saaskit backup prune --dry-run     # GFS: 7 daily, 4 weekly, 12 monthly, yearly
//	saaskit backup restore --at 2026-11-27T14:04:00Z --to ./then.db   # saas.db at a moment, from its replica
//
// Snapshots: incremental, deduplicated snapshots of a directory or a
// file, in the same backup directory:
//
//	saaskit backup snapshot ./uploads
//	saaskit backup snapshots
//	saaskit backup snapshot-restore <id> --to ./uploads.restored
//	saaskit backup snapshot-verify --read-data-subset 10%   # or 3/7: part 3 of 7
//	saaskit backup snapshot-forget --daily 7 --weekly 4 --prune
//
// PostgreSQL continuous backup: archive_command and restore_command
// call wal-push and wal-fetch; wal-agent, run beside PostgreSQL as its
// OS user, opens the key once and serves them on a unix socket, so that
// a push costs the push alone rather than the passphrase's key
// derivation (about 1.5 s) each time:
//
//	saaskit backup wal-agent --data /srv/saaskit &
//	saaskit backup wal-push --data /srv/saaskit pg_wal/000000010000000000000002
//	saaskit backup wal-status
//
// Webhooks: signs a payload as a sender would, or checks a delivery's
// headers, by the Standard Webhooks specification:
//
//	saaskit webhook sign --secret whsec_... --id msg_1 < body.json
//	saaskit webhook verify --secret whsec_... --id msg_1 --timestamp 1700000000 --signature 'v1,...' body.json
//
// Flags: validates flagd definition files (every invalid flag named),
// evaluates a flag for a context, from a file or from the service's
// flag store (rings and shared evaluators included), and lists the
// service's stale flags from the usage it records:
//
//	saaskit flags validate flags/*.json
//	saaskit flags eval flags.json new-checkout --context '{"tenantId":"acme"}'
//	saaskit flags eval new-checkout --data ./data --context '{"tenantId":"acme"}'
//	saaskit flags stale --data ./data --days 30
//
// Keys: rotates a tenant's key-encryption key and rewraps its data
// keys, or shreds a data subject's (or a whole tenant's) keys:
//
//	saaskit keys rotate acme
//	saaskit keys shred acme user_42 --yes
//
// Audit: verifies the hash chain of each tenant's privacy audit trail,
// held to the signed checkpoints taken before, so that a trail cut back
// is found; checkpoint takes new ones (key: SAASKIT_CHECKPOINT_KEY or
// <data>/checkpoint.key; kept in <data>/audit-checkpoints.jsonl):
//
//	saaskit audit verify [TENANT ...]
//	saaskit audit checkpoint [TENANT ...]
//
// Data-subject requests: exports or erases a subject's data from the
// tables a --map file names, as an operator-verified request with its
// deadlines, and lists requests with their due dates:
//
//	saaskit gdpr export acme user_id=usr_42 --map dsr.json --format zip --out ada.zip
//	saaskit gdpr erase acme user_id=usr_42 email=ada@example.com --map dsr.json
//	saaskit gdpr status acme
//
// The map lists tables as gdpr/sqlsource takes them; a table without
// "erase" has the subject's rows deleted, and one with it has those
// columns overwritten ("null", "random", "shredded" or "fixed:TEXT").
// Columns encrypted under the service's keyring are named in "decrypt",
// with the column holding the subject the key belongs to and the
// associated data, in which {column} stands for the row's value; an
// export shows them decrypted, or, when the key is gone, as base64 said
// to be undecryptable:
//
//	{"tables": [
//	  {"table": "notes", "identity_column": "user_id", "identity_kind": "user_id",
//	   "tenant_column": "tenant_id", "key_column": "id", "columns": ["id", "body"],
//	   "erase": {"body": "fixed:[erased]"}, "categories": ["content"], "after": [],
//	   "decrypt": {"body": {"subject_column": "user_id", "associated_data": "notes.body:{id}"}}}
//	]}
//
// Common flags: --data (the service's data directory: the root keyset
// root.keyset, the backups, and the database saas.db; default ./data),
// --db (the service's PostgreSQL database when it runs on one; default
// SAASKIT_DATABASE_URL), --json (machine-readable output); for backup
// also --target (the backup directory, default <data>/backups) and
// --tenant (whose backup key, default platform). The backup key's store
// is <data>/backup-keys.db whatever the engine, apart from the database
// it protects. The root key's passphrase comes from
// SAASKIT_ROOT_PASSPHRASE, or the demo's root.passphrase file in the
// data directory.
//
// What keys and gdpr change lands in the tenant's audit trail, with the
// operator's user name as its actor and any data subject only as a
// pseudonym under SAASKIT_PSEUDONYM_KEY (or the data directory's
// pseudonym.key): a command that would change a subject's data without
// that key refuses before it changes anything.
//
// Exit status: 0 done, 1 failed, 2 the command line is wrong, 3 a check
// ran and found something bad (a signature, a flag definition or
// evaluation error, a backup, an audit chain).
package main
