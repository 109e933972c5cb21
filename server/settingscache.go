package server

import (
	"sync"
	"time"

	"github.com/vigilhq/vigil/wire"
)

// DefaultAgentSettingsTTL is how long the effective agent settings of a host, read for the answer
// to its report, are reused without a store read. A change made on this replica (a group's or
// host's settings, a host moved to another group) drops every cached entry at once; a change
// made on another replica reaches an agent within this time plus one report interval. Without
// the cache every report costs a read of the store (the largest single cost of a one-report
// request with the store's write path off, docs/BENCHMARKS.md "A cheap report path").
const DefaultAgentSettingsTTL = 60 * time.Second

// settingsCache holds each host's effective agent settings as the answer to a report carries
// them (nil: none). It is bounded (beyond max, an arbitrary entry goes), has a TTL, and a
// generation that makes a read racing an invalidation unable to re-insert what was just
// invalidated. It is safe for concurrent use; the cached *wire.AgentConfig values are shared and
// must not be modified.
type settingsCache struct {
	max int
	ttl time.Duration

	mu     sync.Mutex
	gen    uint64
	byHost map[string]settingsEntry
}

type settingsEntry struct {
	config  *wire.AgentConfig
	expires time.Time
}

// newSettingsCache returns a cache of at most max entries; ttl <= 0 turns it off (every get
// misses and put keeps nothing).
func newSettingsCache(max int, ttl time.Duration) *settingsCache {
	return &settingsCache{max: max, ttl: ttl, byHost: make(map[string]settingsEntry)}
}

// get returns the settings cached for host if they have not expired at now, and the generation
// a caller that misses must pass to put.
func (c *settingsCache) get(host string, now time.Time) (*wire.AgentConfig, bool, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byHost[host]
	if !ok || !now.Before(e.expires) {
		return nil, false, c.gen
	}
	return e.config, true, c.gen
}

// put caches config for host unless the cache was invalidated since gen was read.
func (c *settingsCache) put(host string, config *wire.AgentConfig, now time.Time, gen uint64) {
	if c.ttl <= 0 || c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if _, ok := c.byHost[host]; !ok && len(c.byHost) >= c.max {
		for k := range c.byHost { // an arbitrary entry: map iteration starts at a random place
			delete(c.byHost, k)
			break
		}
	}
	c.byHost[host] = settingsEntry{config: config, expires: now.Add(c.ttl)}
}

// forgetAll drops every entry: agent settings changed on this replica.
func (c *settingsCache) forgetAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.byHost)
}
