package server

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// Bounds of the host-credential cache (AuthenticateHost).
const (
	// DefaultHostCacheSize is how many credentials the cache holds; the least recently used goes
	// first beyond it. 200,000 entries cost ~60 MB at most and cover twice the target fleet.
	DefaultHostCacheSize = 200_000
	// DefaultHostCacheTTL is how long a cached credential is trusted without a store read. A
	// revocation or deletion on this replica removes it at once; on another replica the
	// credential poll (DefaultRevocationPoll) does, and the TTL is only the last resort if that
	// poll keeps failing.
	DefaultHostCacheTTL = 10 * time.Minute
	// DefaultRevocationPoll is how often the Service asks the store whether any host was revoked
	// or deleted (by any replica) and, if so, drops its whole credential cache.
	DefaultRevocationPoll = 2 * time.Second
)

// hostCache is an LRU cache of authenticated hosts by credential hash, with a TTL, eviction by
// host ID and a generation that makes a lookup racing an invalidation unable to re-insert what
// was just invalidated. It is safe for concurrent use.
type hostCache struct {
	max int
	ttl time.Duration

	mu      sync.Mutex
	gen     uint64
	order   *list.List               // of *hostCacheEntry, most recently used first
	byHash  map[string]*list.Element // credential hash → element
	byHost  map[string]*list.Element // host ID → element
	evicted uint64                   // entries pushed out by the size limit (tests, metrics)
}

type hostCacheEntry struct {
	hash    string
	host    Host
	expires time.Time
}

func newHostCache(max int, ttl time.Duration) *hostCache {
	return &hostCache{max: max, ttl: ttl, order: list.New(),
		byHash: make(map[string]*list.Element), byHost: make(map[string]*list.Element)}
}

// get returns the host cached for hash if it has not expired at now, and the generation a caller
// that misses must pass to put.
func (c *hostCache) get(hash string, now time.Time) (Host, bool, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byHash[hash]
	if !ok {
		return Host{}, false, c.gen
	}
	e := el.Value.(*hostCacheEntry)
	if !now.Before(e.expires) {
		c.remove(el)
		return Host{}, false, c.gen
	}
	c.order.MoveToFront(el)
	return e.host, true, c.gen
}

// put caches h for hash unless the cache was invalidated since gen was read.
func (c *hostCache) put(hash string, h Host, now time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if el, ok := c.byHash[hash]; ok {
		c.remove(el)
	}
	if el, ok := c.byHost[h.ID]; ok {
		c.remove(el) // the host's older credential, if it ever had another
	}
	for c.order.Len() >= c.max {
		c.remove(c.order.Back())
		c.evicted++
	}
	el := c.order.PushFront(&hostCacheEntry{hash: hash, host: h, expires: now.Add(c.ttl)})
	c.byHash[hash] = el
	c.byHost[h.ID] = el
}

// forgetHost drops a host's entry at once (revocation or deletion on this replica).
func (c *hostCache) forgetHost(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if el, ok := c.byHost[id]; ok {
		c.remove(el)
	}
}

// forgetAll drops every entry (a revocation or deletion seen on another replica).
func (c *hostCache) forgetAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.order.Init()
	clear(c.byHash)
	clear(c.byHost)
}

func (c *hostCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

func (c *hostCache) remove(el *list.Element) {
	e := c.order.Remove(el).(*hostCacheEntry)
	delete(c.byHash, e.hash)
	if c.byHost[e.host.ID] == el {
		delete(c.byHost, e.host.ID)
	}
}

// credentialGenerations is implemented by stores shared between replicas (pgstore, and
// sqlitestore for tests that run two Services on one database): HostCredentialGeneration returns
// a number that only goes up and rises, in the same transaction, with every revocation, deletion
// or credential change of any host.
type credentialGenerations interface {
	HostCredentialGeneration(ctx context.Context) (int64, error)
}

// credentialWatch is what the credential poll remembers between polls.
type credentialWatch struct {
	mu     sync.Mutex // one poll at a time (the loop, and tests that poll by hand)
	last   int64
	known  bool // last holds a generation read since the last failure
	failed bool
}

// revocationLoop polls the store's credential generation until ctx ends, so that a host revoked
// or deleted through another replica is refused here within one poll.
func (s *Service) revocationLoop(ctx context.Context, cg credentialGenerations) {
	t := time.NewTicker(s.cfg.RevocationPoll)
	defer t.Stop()
	for {
		s.pollCredentials(ctx, cg)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pollCredentials reads the credential generation once and drops the whole credential cache when
// it moved (or when a failed poll may have hidden a move). The whole cache, not the entries of
// the hosts concerned: the generation does not say which hosts changed, and revocations and
// deletions are rare operator actions. The cost of a drop is one indexed read by credential
// hash per host at its next request, and there is at most one drop per poll however many hosts
// were revoked at once.
func (s *Service) pollCredentials(ctx context.Context, cg credentialGenerations) {
	w := &s.credWatch
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := cg.HostCredentialGeneration(ctx)
	switch {
	case err != nil:
		if ctx.Err() == nil {
			s.log.WarnContext(ctx, "Checking for host revocations failed; cached credentials expire by their TTL.", logKeyErr, err)
		}
		w.known, w.failed = false, true
	case !w.known:
		// After a failed poll a revocation may have been missed: start afresh.
		if w.failed {
			s.hosts.forgetAll()
		}
		w.last, w.known, w.failed = n, true, false
	case n != w.last:
		s.hosts.forgetAll()
		s.log.InfoContext(ctx, "A host was revoked or deleted; credential cache dropped.")
		w.last = n
	}
}
