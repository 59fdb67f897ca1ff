// Package backup makes encrypted, verified backups on several targets at
// once, restores them byte for byte, and proves they can be restored.
//
//	b, err := backup.New(backup.KeyringCipher(keyring, tenantID), []backup.Target{local, offsite}, backup.Options{TenantID: tenantID})
//	m, err := b.Run(ctx, backup.SQLiteSource("app", db, ""))
//	err = b.Verify(ctx, m.ID, backup.CheckReadAll)
//	err = b.RestoreFile(ctx, m.ID, "/restore/app.db")
//
// # Pipeline
//
// A Source (SQLiteSource: an online VACUUM INTO copy; PostgresSource:
// pg_dump's custom format, with a clear error when pg_dump is missing;
// DirSource: a tar stream; ReaderSource: any stream) is read once,
// compressed with zstd, encrypted with a streaming AEAD under a backup
// key separate from the data keys (KeyringCipher), hashed before and
// after (SHA-256), and written to every Target concurrently, with
// memory bounded whatever the size. It fails closed: without a key, or
// with the key service down, nothing is written. The manifest (ID,
// source, tenant, times, sizes, both hashes, key ID, targets) is
// written last and never changed: a backup interrupted by a crash has
// no manifest and does not exist; Manifests rebuilds the catalog from
// the targets alone.
//
// # Verification
//
// Verify checks a manifest (CheckManifest), that every copy exists
// (CheckExists), or reads, decrypts, decompresses and hashes every copy
// (CheckReadAll), naming the backup, the target and the offset where
// damage was met. VerifySubset reads part n of t, so t runs read
// everything (restic's check --read-data-subset). Restore uses the first
// intact copy and checks the result against the manifest.
//
// Each verification's outcome is recorded on the targets beside the
// backup, so Verifications shows the last one of each backup whichever
// process ran it: a Scheduler, an operator's command line, another
// replica. A Scheduler's Status is of its own process only.
//
// # Erasure
//
// Backups hold the application's data as it was stored: fields
// encrypted under a data subject's keys stay encrypted inside them, so
// shredding those keys (package crypto) makes the subject's data in
// every old backup unreadable, without rewriting any backup.
//
// Retention (restic's semantics) is in backup/retention.
package backup
