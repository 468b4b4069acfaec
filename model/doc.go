// Package model is the gateway's store: one-api's tables as gorm models, the
// database set-up for SQLite, PostgreSQL and MySQL, and the small interfaces
// the relay path goes through (TokenStore, QuotaLedger, LogSink) so that
// caching and batching can be slotted in without touching the relay.
//
// The Store is the one door into the database: other packages call its
// methods (and, inside QuotaAdmin.Apply/Credit, a Tx's), never gorm
// (TestGormStaysInStorage in the root package keeps it so).
//
// One job per file group:
//
//   - the store: db.go (open, migrate, close), tx.go (Tx and the typed
//     patches), store_ports.go (the relay's ports built on the handles),
//     user*.go, token.go, token_store.go, token_auth.go, channel*.go,
//     routing_store.go, redemption.go, log.go, log_store.go, log_write.go,
//     search.go, group_models.go, option.go, options.go, bootstrap.go,
//     db_settings.go, ports.go (the interfaces the relay and admin API use);
//   - the single-transaction quota ledgers: direct_ledger.go (one
//     conditional UPDATE per movement), group_ledger.go (group commit); what
//     every ledger reports to the admin API: quota_delta.go (the batched and
//     Redis ledgers are in package ledger); the direct log sinks: log_sink.go;
//   - the log batcher: log_batch.go; log retention: log_retention.go;
//   - the token cache: token_cache.go, token_cache_all.go;
//   - the SQLite driver wrapper: sqlite.go (open and configure every pooled
//     connection, checkpoint on stop), sqlite_gate.go (one writer at a
//     time), sqlite_probe.go (read the settings back and report them).
package model
