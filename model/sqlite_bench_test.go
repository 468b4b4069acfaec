package model

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkSQLiteInsert writes consume-log rows the way the relay does (one
// autocommit INSERT per request) under the rollback settings (DELETE/FULL)
// and the defaults (WAL/NORMAL), serially and from concurrent goroutines.
// Each reports rows/s; the WAL run also reports its ratio to the rollback
// run of the same workload (x_rollback), so run both:
//
//	go test ./model -run '^$' -bench SQLiteInsert -benchtime 3s
//
// The files live in SQLITE_BENCH_DIR when set (put it on the disk the
// gateway will use: fsync cost is the whole difference), else a temp dir.
func BenchmarkSQLiteInsert(b *testing.B) {
	modes := []struct {
		name string
		env  map[string]string
	}{
		{"rollback_DELETE_FULL", map[string]string{"SQLITE_OPTIMIZE_ENABLED": "false", "SQLITE_JOURNAL_MODE": "DELETE", "SQLITE_SYNCHRONOUS": "FULL"}},
		{"default_WAL_NORMAL", nil},
	}
	for _, parallel := range []bool{false, true} {
		workload := "serial"
		if parallel {
			workload = "parallel"
		}
		var rollbackRate float64
		for i, m := range modes {
			b.Run(workload+"/"+m.name, func(b *testing.B) {
				s, _ := openSQLiteStore(b, filepath.Join(benchDir(b), "one-api.db"), sqliteConfig(b, m.env))
				defer s.Close()
				insert := func() {
					row := Log{UserID: 1, CreatedAt: time.Now().Unix(), Type: LogConsume, Content: "model rate 1.00, completion rate 1.00",
						Username: "bench", TokenName: "default", ModelName: "gpt-4o-mini", Quota: 120, PromptTokens: 80, CompletionTokens: 20, ChannelID: 1}
					if err := s.db.Create(&row).Error; err != nil {
						b.Error(err)
					}
				}
				b.ReportAllocs()
				b.ResetTimer()
				if parallel {
					b.SetParallelism(8) // 16 writers on 2 cores: a busy gateway
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							insert()
						}
					})
				} else {
					for range b.N {
						insert()
					}
				}
				rate := float64(b.N) / b.Elapsed().Seconds()
				b.ReportMetric(rate, "rows/s")
				if i == 0 {
					rollbackRate = rate
				} else if rollbackRate > 0 {
					b.ReportMetric(rate/rollbackRate, "x_rollback")
				}
			})
		}
	}
}

func benchDir(b *testing.B) string {
	if d := os.Getenv("SQLITE_BENCH_DIR"); d != "" {
		dir, err := os.MkdirTemp(d, "sqlite-bench-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	return b.TempDir()
}
