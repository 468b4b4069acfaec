package model

// The quota ledgers (package ledger) keep movements in memory before they
// reach the rows; QuotaAdmin.Pending* report them as these deltas, which
// readers add to the rows they read.

// UserDelta is what the next flush adds to a users row.
type UserDelta struct {
	Quota        int64
	UsedQuota    int64
	RequestCount int64
}

// TokenDelta is what the next flush adds to a tokens row.
type TokenDelta struct {
	RemainQuota int64
	UsedQuota   int64
}
