package ledger

import (
	"context"

	"one-api/model"
)

// A credit is a relative admin write to a user's balance (quota = quota +
// n): a redeemed code, an admin top-up, an inviter's reward. Unlike an
// absolute write it commutes with every pending movement, so the database
// row may take it at any time; what must follow it is the live balance the
// ledger checks reservations against (the Batch's in-memory one, the
// Redis ledger's shared counter), or the credit would not be spendable until
// that balance is re-read, and a counter set from the row later would count
// it twice. Credit keeps the two in step.

// Credit implements model.QuotaAdmin: the write runs as Apply's, in the flush
// transaction, and every in-memory balance is re-read afterwards.
func (l *Batch) Credit(ctx context.Context, _ int, write func(tx model.Tx) (int64, error)) error {
	return l.apply(ctx, func(tx model.Tx) error {
		_, err := write(tx)
		return err
	}, false)
}

// Credit implements model.QuotaAdmin. The write runs in the batch's flush
// transaction without the absolute-write watch (Apply would read the
// relative write as "set to the row's new value" and drop other nodes'
// unflushed movements); the user's shared counter moves by the amount
// credited before the commit, and back if the commit fails. Under the
// batch's flushMu no counter can be created on this node between the two.
func (l *Redis) Credit(ctx context.Context, userID int, write func(tx model.Tx) (int64, error)) error {
	key := l.key(accountID{userKind, userID})
	var moved int64
	err := l.batch.Apply(ctx, func(tx model.Tx) error {
		n, err := write(tx)
		if err != nil || n == 0 {
			return err
		}
		l.move(ctx, []string{key}, n)
		moved = n
		return nil
	})
	if err != nil && moved != 0 {
		l.move(ctx, []string{key}, -moved)
	}
	return err
}
