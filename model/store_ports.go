package model

import "one-api/common"

// The relay's ports built on the Store's handles, so the composition root
// (start.go) never holds a gorm handle. The quota ledgers' are in package
// ledger (ledger.DirectFor, ledger.BatchFor).

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
