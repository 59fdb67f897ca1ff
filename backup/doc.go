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
// memory bounded whatever the size. It fails closed: without a key
// (a nil Cipher, a KeyringCipher without a keyring: ErrNoKey from New),
// or with the key service down, nothing is written. A Source or Cipher
// that panics leaves nothing either: Run stops every write and takes
// back what was written before the panic goes on, and a Scheduler
// recovers it, logs it with its stack and records it as the job's
// error, without retrying. A failed run's error names its stage (open
// or read source, compress and encrypt, store, manifest) and the target
// that failed; only a key that cannot be had (EncryptStream failing
// before anything was written) is ErrNoKey, which a Scheduler gives up
// on at once, while a target that is down is retried with backoff. The manifest (ID,
// source, tenant, times, sizes, both hashes, key ID, targets) is
// written last and never changed: a backup interrupted by a crash has
// no manifest and does not exist; Manifests rebuilds the catalog from
// the targets alone. A catalog is never silently empty: manifests
// listed of which none can be read are an error (and so are At, Prune
// and VerifySubset on them), and DirTarget follows symbolic links to
// directories, its root's included, failing on a link that leads
// nowhere.
//
// # Manifests are sealed
//
// Each manifest carries a seal: the SHA-256 of its canonical form
// (every member but the seal, sorted by name, compacted) encrypted by
// the Cipher, bound to the backup's ID. Every read of a manifest
// (Manifests, At, Verify, Restore, Prune) opens and checks the seal, so
// a manifest edited in any member (its source relabelled, a tag or
// member added, the seal of another backup put in) is refused with
// ErrCorrupt and never listed or restored. The seal is made with the
// backup's own key and opens wherever its data does: after the
// keyring's key encryption key is rotated, old backups verify as
// before. Manifests written before manifests were sealed have no seal:
// they are refused (ErrCorrupt, saying so) unless Options.UnsealedBefore
// is later than the backup's start, as its ID says (set it to when the
// upgrade was deployed; the command line's --unsealed-before), so a
// seal stripped from a newer manifest is still refused.
//
// A seal that does not open under the key in hand means the wrong key
// (ErrWrongKey: another keyring, tenant or key scope), unless that key
// opens the backup's data, in which case the seal was altered
// (ErrCorrupt). ErrWrongKey is neither ErrNoKey nor ErrCorrupt: the
// backup is likely intact, and the right key restores it.
//
// # Verification
//
// Verify checks a manifest (CheckManifest), that every copy exists
// (CheckExists), or reads, decrypts, decompresses and hashes every copy
// (CheckReadAll), naming the backup, the target and the offset where
// damage was met: every damage (a flipped header byte, an object cut
// to nothing, bytes appended) is an error wrapping ErrCorrupt that says
// "backup ID on TARGET: ... at or after stored byte N", while a target
// that fails to read is named as such and is not ErrCorrupt. VerifySubset reads part n of t, so t runs read
// everything (restic's check --read-data-subset); a backup whose
// manifest no target can read fails its part, and a catalog with no
// backup fails with ErrNotFound: a check that checked nothing never
// passes. Restore uses the first
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
// # Continuous SQLite backup
//
// Package backup/replicate ships a SQLite database's changes to the
// same targets within a second of their commit, encrypted with the same
// Cipher, and restores it as it was at any moment of its retention
// window (on Litestream).
//
// # Continuous PostgreSQL backup
//
// Besides pg_dump snapshots (PostgresSource), a PostgreSQL cluster can
// be backed up continuously, as WAL-G and pgBackRest do: every WAL file
// the server finishes is archived (PushWAL), base backups are taken now
// and then (PostgresBaseBackup: pg_basebackup's tar stream, through Run,
// with its start and stop LSN recorded), and RestorePostgres restores to
// any point in time after the oldest base backup: it extracts the newest
// base backup finished by then into a new data directory and writes
// recovery.signal and the recovery settings; the server started there
// replays the archived WAL (FetchWAL) up to that time and promotes.
//
// Archived files are encrypted like backups, bound to their names (a
// file renamed on a target does not decrypt), compressed, and written
// once to every target: pushing a file again with the same content
// succeeds, with other content fails. The saaskit command runs both
// ends; in postgresql.conf:
//
//	wal_level = replica
//	archive_mode = on
//	archive_command = 'saaskit backup wal-push --data /srv/saaskit %p'
//	archive_timeout = 60s
//
// and SAASKIT_ROOT_PASSPHRASE in the server's environment. Each
// wal-push that opens the repository itself derives the root key from
// the passphrase (Argon2id, about 1.5 s), which caps archiving near
// 10 MiB/s; "saaskit backup wal-agent", run as the server's OS user,
// opens it once and serves wal-push and wal-fetch on a unix socket only
// that user can reach, at the cost of the push alone (BENCHMARKS.md).
// Nothing derived from the passphrase is written to disk. "saaskit
// backup base --dsn ..." takes a base backup (a role with REPLICATION;
// archiving must work first: pg_basebackup waits for the WAL it needs
// to be archived). "saaskit backup restore --pgdata DIR --at TIME"
// prepares a restore with restore_command set to "saaskit backup
// wal-fetch ... %f %p", which exits nonzero, quietly, for a file that
// is not archived, as recovery requires.
//
// The RPO to expect: what is lost with the server is what no archived
// segment holds yet, at most archive_timeout of writes on a quiet
// server (a busy one fills segments faster), plus the time a push takes.
// WALStatus reports the RPO achieved (how long ago the newest segment
// was archived) and the runs of archived segments: a gap stops a
// recovery there. The recovery time is that of extracting the base
// backup plus replaying the WAL since, so base backups are taken often
// enough to bound it. A target time must be after the base backup
// finished and before the last archived commit: else the server stops
// recovery with an error rather than promote short of the target.
// Extra tablespaces are not supported.
//
// # Achieved RPO and point-in-time drills
//
// A source backed up continuously is given to a Scheduler as a
// Continuous (SchedulerOptions.Continuous): a name, Newest (the newest
// point a restore can reach) and, to be drilled, Restore (the source as
// it was at a point, into a new file). backup/replicate supplies both
// for a SQLite database (Replicator.Continuous in the process that
// replicates it, replicate.Continuous elsewhere); NewestWAL is Newest
// for archived PostgreSQL WAL:
//
//	s, err := backup.NewScheduler(b, jobs, backup.SchedulerOptions{Continuous: []backup.Continuous{
//		{Name: "app.db", Newest: r.Newest, Restore: r.Restore, RPO: time.Minute,
//			DrillEvery: 24 * time.Hour, Drill: backup.DrillOptions{Check: sqlitecheck.Integrity}},
//		{Name: "postgres", Newest: b.NewestWAL, RPO: 2 * time.Minute}, // measured, not drilled
//	}})
//
// The Scheduler measures each one on every RunDue and every metric
// collection: Status has its NewestPoint and AchievedRPO (the time
// since), RPOViolated when that exceeds its RPO, and the gauge
// saaskit.backup.rpo.achieved (seconds; attributes job and kind,
// "continuous", or "periodic" for a job, whose newest point is when its
// last good backup started) reports it with saaskit.backup.rpo.violated.
// Every DrillEvery it restores the source as it was at its newest point
// into scratch space (DrillAt does it on demand), runs the check
// (sqlitecheck.Integrity, or sqlitecheck.Query with a query of the
// application's), and records the time both took as the achieved RTO:
// Status.LastDrill (Kind "point_in_time", the Point restored to), the
// gauge saaskit.backup.drill.duration with kind "point_in_time" (a
// job's drills have kind "full"), and saaskit.backup.check.ok.
//
// A PostgreSQL point-in-time restore needs a server to replay the WAL:
// Backups.PostgresDrill is the Restore of archived WAL that runs one.
// It restores the newest base backup finished by the point into the
// drill's scratch directory, fetches the archived WAL since beside it,
// starts the server there (pg_ctl, as PGDrillOptions.RunAs) on a free
// loopback port with archiving off, waits until it has replayed the WAL
// to the point and promoted, runs a check query (psql, or Check with
// the application's driver) and stops it; the drill's duration, the
// achieved RTO, covers it all:
//
//	{Name: "postgres", Newest: b.NewestWAL, RPO: 2 * time.Minute, DrillEvery: 24 * time.Hour,
//		Restore: b.PostgresDrill(backup.PGDrillOptions{BinDir: "/usr/lib/postgresql/17/bin", RunAs: "postgres",
//			Query: "SELECT count(*) FROM invoices"})},
//
// At the newest point (what a Scheduler drills) all the archived WAL
// is replayed: PostgreSQL refuses a target time past the last commit
// archived.
//
// # Incremental snapshots
//
// A Repository (OpenRepository, or Backups.Repository on the same
// targets and key) holds incremental, deduplicated, encrypted
// snapshots, as restic and kopia do, under "snapshots/" on the targets:
//
//	repo, err := b.Repository(ctx)
//	info, err := repo.Snapshot(ctx, backup.SQLiteSource("app", db, "")) // or SnapshotDir(ctx, dir)
//	err = repo.RestoreSnapshot(ctx, info.ID, w)                          // RestoreSnapshotDir for trees
//	check, err := repo.VerifySnapshots(ctx, 0.1)                         // read 10% of the packs
//	plan, err := repo.Forget(ctx, retention.GFS(), retention.Options{})
//	report, err := repo.Prune(ctx, backup.PruneOptions{})
//
// A source is cut into chunks where its content says (content-defined
// chunking with a Rabin fingerprint, github.com/restic/chunker; 128 KiB
// to 2 MiB, about 384 KiB on average), so bytes inserted or changed in
// one place change the chunks there only. Each chunk is named by a
// keyed hash of its plaintext (HMAC-SHA256), compressed with zstd,
// encrypted with the Cipher bound to its name, and gathered with others
// into packs of about 16 MiB, named by their SHA-256 and written once
// to every target. A chunk the repository holds on every target is not
// stored again: a second snapshot of a 64 MiB stream of which 1%
// changed writes 1 to 3% of it. The chunking polynomial and the hash
// key are random per repository, kept in its config object encrypted,
// so that every snapshot chunks alike and chunk names leak nothing of
// the content. Each run writes an index object (chunk to pack, offset
// and length) of its own packs, then the snapshot object (source, time,
// chunk lists, sizes), both encrypted; readers merge all indexes, so
// snapshots taken at once by several processes never contend. A
// snapshot that fails leaves no snapshot object, and its packs are
// still indexed, so that the next attempt reuses them.
//
// A tree snapshot (SnapshotDir, or Snapshot of a DirSource) records
// files, directories and symbolic links with their permissions and
// times; a file whose size, time and permissions match the parent
// snapshot's is not read again, so a snapshot of a tree in which few
// files changed costs little more than listing it.
//
// A stream (a database copy or dump) has no file times to trust, so
// every snapshot reads all of it; the chunk cache spares chunking it
// again. After each stream snapshot, a local file
// (RepositoryOptions.CacheDir, by default under the user's cache
// directory) records its chunks: length, id, and a keyed BLAKE3 digest
// of the bytes. The next snapshot of the same source hashes the bytes
// where each recorded chunk would be; a chunk whose digest matches is
// taken as it is (not chunked, hashed with HMAC, compressed, encrypted
// or stored), and where one does not, content-defined chunking resumes
// from that chunk's start until its cuts meet the recorded ones again
// (at the same offset, or shifted by inserted or removed bytes). As the
// chunker starts afresh at every cut, the chunk list is exactly the one
// chunking the whole stream gives: a second snapshot of a 1 GiB stream
// of which 1% changed costs reading it and a keyed digest of it (about
// 2.5 GB/s a core with AVX2), plus the work on the changed chunks. The file is sealed
// (AES-256-GCM) and its digests keyed, under keys derived from the
// repository's secret id key, and bound to the repository, tenant and
// source: it reveals nothing without the key, and a file damaged,
// edited, or taken from another source or repository is ignored (the
// stream is then chunked in full). SnapshotInfo.CachedBytes says how
// much of a stream the cache spared.
//
// A source that knows where it changed skips even that read: a
// ChangeSource (backup/replicate's Replicator.Source: a SQLite database
// under continuous replication, whose change sets name the pages each
// commit wrote) opens the stream for reading at any offset,
// names the state it reads (recorded in the snapshot as Mark), and
// lists the byte ranges that may have changed since the parent
// snapshot's mark. The snapshot then takes the parent's chunks unread
// up to the one holding a change, chunks from that chunk's start until
// a cut falls on one of the parent's (the chunks meet again), and takes
// the parent's chunks again: as the chunker starts afresh at every cut,
// the chunk list is still the one chunking the whole stream gives, and
// only the changed regions, a chunk or so around each, are read
// (SnapshotInfo.ReadBytes). Changes are in place; the stream may grow
// or shrink at its end. A change list that misses a change would leave
// it out of the snapshot, so the trust is bounded: each such snapshot
// reads and hashes four of the parent's chunks it takes, at random, and
// reads the whole stream when one differs, and after
// RepositoryOptions.FullReadEvery snapshots in a row by change list
// (24 by default; SnapshotInfo.Trusted counts them) the next reads it
// all, with the chunk cache. A source that does not know (no parent
// mark, a gap in its records) has the stream read whole.
//
// Restore authenticates and re-hashes every chunk before writing its
// bytes, checks beforehand that every chunk is indexed and its pack
// present, and takes each chunk from the first target whose copy is
// intact: damage is refused with an error naming the chunk, the pack
// and the target, never with wrong bytes. VerifySnapshots checks the
// structure (config, snapshots, indexes, references, every indexed
// pack on every target) and reads a random fraction of the packs
// (restic's check --read-data-subset), hashing each pack and decrypting
// and re-hashing each chunk; VerifySnapshotPart reads part n of m of the
// packs instead (restic's n/m), fixed by their IDs, so that m runs read
// every pack once.
//
// Forget applies a retention policy to snapshots (grouped by tenant and
// source) and deletes the forgotten snapshot objects; Prune then
// deletes every pack that holds no chunk of a remaining snapshot, and
// merges the indexes into one. Packs partly used are repacked as
// restic's prune does: the emptiest first, their used chunks are copied
// (as stored, once authenticated and re-hashed) into new packs, until
// at most PruneOptions.MaxUnused of the kept bytes is unused (5% by
// default; 1 keeps partly used packs whole); with RepackSmall, packs
// below 80% of the pack size are merged too. PruneReport says what was
// repacked (PacksRepacked, PacksWritten, BytesRepacked) and the unused
// bytes left (UnusedInKept). Nothing is deleted before what replaces it
// is stored on every target: new packs first, then the merged index,
// then the old indexes, the old packs last. A prune stopped at any of
// these steps (a crash, a target down) leaves a repository that
// verifies and restores every snapshot, and the next prune finishes
// its work: a chunk stored in two packs is kept in the one every target
// holds, and an index on some targets only is no problem while each
// target still indexes every chunk in use. Prune holds an exclusive lock object and snapshots shared ones: a
// prune does not start while a snapshot runs, nor a snapshot while a
// prune runs (ErrLocked); a lock older than RepositoryOptions.StaleLock
// (its process died) no longer counts.
//
// Retention (restic's semantics) is in backup/retention.
package backup
