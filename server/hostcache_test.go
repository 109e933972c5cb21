package server

import (
	"fmt"
	"testing"
	"time"
)

// TestHostCacheLRU: beyond its size the least recently used credential goes first; one that was
// just used stays.
func TestHostCacheLRU(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	c := newHostCache(3, time.Hour)
	for i := range 3 {
		_, _, gen := c.get(fmt.Sprint("cred", i), now)
		c.put(fmt.Sprint("cred", i), Host{ID: fmt.Sprint("h", i)}, now, gen)
	}
	if _, ok, _ := c.get("cred0", now); !ok { // cred0 is now the most recently used
		t.Fatal("cred0 missing")
	}
	_, _, gen := c.get("cred3", now)
	c.put("cred3", Host{ID: "h3"}, now, gen)
	if c.len() != 3 || c.evicted != 1 {
		t.Fatalf("len %d evicted %d, want 3 and 1", c.len(), c.evicted)
	}
	if _, ok, _ := c.get("cred1", now); ok {
		t.Error("cred1, the least recently used, was not evicted")
	}
	for _, k := range []string{"cred0", "cred2", "cred3"} {
		if _, ok, _ := c.get(k, now); !ok {
			t.Errorf("%s evicted", k)
		}
	}
}

// TestHostCacheTTL: an entry is used until its TTL and not after.
func TestHostCacheTTL(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	c := newHostCache(10, 10*time.Minute)
	_, _, gen := c.get("cred", now)
	c.put("cred", Host{ID: "h"}, now, gen)
	if _, ok, _ := c.get("cred", now.Add(10*time.Minute-time.Second)); !ok {
		t.Error("entry gone before its TTL")
	}
	if _, ok, _ := c.get("cred", now.Add(10*time.Minute)); ok {
		t.Error("entry used after its TTL")
	}
	if c.len() != 0 {
		t.Errorf("expired entry kept: len %d", c.len())
	}
}

// TestHostCacheRevokeRace: forgetHost removes the host at once, and a lookup that read the store
// before the revocation cannot put the stale host back.
func TestHostCacheRevokeRace(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	c := newHostCache(10, time.Hour)
	_, _, gen := c.get("cred", now)
	c.put("cred", Host{ID: "h"}, now, gen)
	c.forgetHost("h")
	if _, ok, _ := c.get("cred", now); ok {
		t.Fatal("revoked host still cached")
	}
	// A lookup missed, read the (not yet revoked) host from the store; the revocation lands
	// before it caches what it read.
	_, _, gen = c.get("cred", now)
	c.forgetHost("h")
	c.put("cred", Host{ID: "h"}, now, gen)
	if _, ok, _ := c.get("cred", now); ok {
		t.Fatal("a lookup racing the revocation re-cached the revoked host")
	}
	// forgetAll drops every entry the same way.
	_, _, gen = c.get("other", now)
	c.put("other", Host{ID: "o"}, now, gen)
	c.forgetAll()
	if c.len() != 0 {
		t.Fatalf("len %d after forgetAll", c.len())
	}
}
