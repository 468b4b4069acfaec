package model

// InvalidateAll drops every cached token: the next lookup of any key reads
// the store. The cluster calls it when it may have missed invalidations (its
// Redis subscription was broken and is back).
func (c *TokenCache) InvalidateAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.items.Flush()
	clear(c.byUser)
	clear(c.loading)
}
