package cluster

import (
	"one-api/common"
	"one-api/tokenlimit"
)

// TokenLimiter returns the limiter of the tokens' requests-per-minute
// limits: local alone on a single node (nil Node), or counters in Redis that
// every node shares, with local as the fallback while Redis fails.
func (n *Node) TokenLimiter(local *tokenlimit.Local) tokenlimit.Limiter {
	if n == nil {
		return local
	}
	common.SysLog("cluster: token rate limits are counted in redis")
	return tokenlimit.NewRedis(n.rdb, n.prefix, local)
}
