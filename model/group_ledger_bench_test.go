package model

import (
	"context"
	"testing"

	"one-api/internal/testdb"
)

// BenchmarkSyncWritePath is one request's writes on the default (synchronous)
// path: a reservation, then the settlement and its consume log, from 64
// concurrent requests on SQLite; group commit against a transaction each.
func BenchmarkSyncWritePath(b *testing.B) {
	for _, group := range []bool{false, true} {
		name := "direct"
		if group {
			name = "group"
		}
		b.Run(name, func(b *testing.B) {
			st := openDialectStore(b, testdb.SQLite)
			f := seedLedger(b, st.Gorm())
			tok := f.tokens[11] // rich user, unlimited token
			var ledger QuotaLedger = NewDirectLedger(st.Gorm())
			var sink LogSink = NewDirectLogSink(st.LogGorm())
			var gl *GroupLedger
			if group {
				gl = NewGroupLedger(st.Gorm(), st.LogGorm())
				defer gl.Close(context.Background())
				ledger, sink = gl, gl
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.SetParallelism(32) // 64 goroutines on 2 cores
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r := Reservation{UserID: tok.user, TokenID: tok.id, Unlimited: true, Amount: 10}
					if err := ledger.Reserve(ctx, r); err != nil {
						b.Error(err)
						return
					}
					s := Settlement{Reservation: r, ChannelID: f.channels[0], Quota: 7}
					l := &Log{UserID: tok.user, Type: LogConsume, Quota: 7, ChannelID: f.channels[0], Content: "model ratio 1.00"}
					var err error
					if gl != nil {
						err = gl.Bill(ctx, s, l)
					} else {
						err = ledger.Settle(ctx, s)
						if err == nil {
							err = sink.Record(ctx, l)
						}
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
