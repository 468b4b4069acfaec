package model

import "one-api/common"

// The relay's ports built on the Store's handles, so the composition root
// (start.go) and the admin API's fallback ledger never hold a gorm handle.

// DirectLedger is a QuotaLedger that writes every movement at once.
func (s *Store) DirectLedger() *DirectLedger { return NewDirectLedger(s.db) }

// BatchLedger is a QuotaLedger that batches movements in memory (not yet
// started: call Start).
func (s *Store) BatchLedger(cfg common.BatchUpdateConfig, opts ...WorkerOption) *BatchLedger {
	return NewBatchLedger(s.db, cfg, opts...)
}

// DirectLogSink writes each log row to the log database as it comes.
func (s *Store) DirectLogSink() *DirectLogSink { return NewDirectLogSink(s.logDB) }

// LogBatcher batches consume logs into the log database (not yet started:
// call Start).
func (s *Store) LogBatcher(cfg common.LogBatchConfig, o LogBatcherOptions) *LogBatcher {
	return NewLogBatcher(s.logDB, cfg, o)
}

// LogRetention deletes the log database's consume logs older than days.
func (s *Store) LogRetention(days int, o LogRetentionOptions) *LogRetention {
	return NewLogRetention(s.logDB, days, o)
}
