package metrics

import (
	"testing"
	"time"
)

// TestRecordDBFeedsMetrics: the store's statement timer
// (model.StatementTimer) hands each statement to RecordDB, which counts it
// in the window and in Prometheus by kind.
func TestRecordDBFeedsMetrics(t *testing.T) {
	m := &Metrics{Window: NewCollector(), Prom: newTestPrometheus(t, 0)}
	for range 3 {
		m.RecordDB("create", time.Millisecond)
	}
	if g := m.Window.Snapshot().DBQueryCount; g != 3 {
		t.Errorf("db_query_count = %d, want 3", g)
	}
	if c := find(scrape(t, m.Prom), "oneapi_db_statements_total", map[string]string{"op": "create"}); c == nil || counterValue(c) != 3 {
		t.Errorf("oneapi_db_statements_total{op=create} = %v, want 3", c)
	}
}
