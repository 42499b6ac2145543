// Package cache keeps tracking answers in memory in front of a
// tracker.TrackingService.
//
// Freshness is by generation, not by key: the store bumps the generation
// after every durable commit (before acknowledging it), and an entry filled
// under an older generation is a miss. Per-key invalidation would be wrong
// here: moving a pallet changes the answer for every item packed in it. So a
// cached answer is never staler than the last committed capture, and under a
// read-mostly load (the tracking workload) the hit rate stays high.
package cache

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgetrace/edgetrace/tracker"
)

var _ tracker.TrackingService = (*Cache)(nil)

// Generation counts commits. Its zero value is ready to use.
type Generation struct{ n atomic.Uint64 }

// Bump marks every cached answer stale. Pass it as the store's OnCommit.
func (g *Generation) Bump() { g.n.Add(1) }

func (g *Generation) load() uint64 { return g.n.Load() }

const shards = 32

// DefaultMaxBytes bounds the cache to 32 MiB of answers. Answers are kept as
// the JSON the API sends (about 0.4 KiB for an item in a case in a pallet),
// so a budget holds roughly four times as many of them as decoded structs
// would (1.8 KiB each on the heap), and a hit costs no encoding. The pod
// requests 128 MiB in all.
const DefaultMaxBytes = 32 << 20

// entryOverhead approximates what an entry costs beyond its key and answer:
// the map slot, the slice header and the bookkeeping fields.
const entryOverhead = 96

type entry struct {
	json    []byte
	gen     uint64
	expires int64 // unix nanos
}

func (e entry) size(key string) int { return len(key) + len(e.json) + entryOverhead }

type shard struct {
	mu    sync.RWMutex
	m     map[string]entry
	bytes int
}

// Cache is a TrackingService that answers from memory when it can.
type Cache struct {
	next   tracker.TrackingService
	gen    *Generation
	ttl    time.Duration
	max    int // bytes per shard
	seed   maphash.Seed
	shards [shards]shard
	now    func() time.Time

	hits, misses atomic.Uint64
}

// New returns a cache in front of next. Entries live at most ttl and the
// cache holds at most maxBytes of keys and answers (0 means DefaultMaxBytes).
func New(next tracker.TrackingService, gen *Generation, ttl time.Duration, maxBytes int) *Cache {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	c := &Cache{next: next, gen: gen, ttl: ttl, max: max(1, maxBytes/shards), seed: maphash.MakeSeed(), now: time.Now}
	for i := range c.shards {
		c.shards[i].m = make(map[string]entry)
	}
	return c
}

// Location implements tracker.TrackingService.
func (c *Cache) Location(ctx context.Context, epc string) (*tracker.Location, error) {
	b, err := c.LocationJSON(ctx, epc)
	if err != nil {
		return nil, err
	}
	loc := new(tracker.Location)
	if err := json.Unmarshal(b, loc); err != nil {
		return nil, fmt.Errorf("cached location of %s: %w", epc, err)
	}
	return loc, nil
}

// LocationJSON answers with the location of epc encoded as JSON, exactly as
// json.Marshal encodes the tracker.Location. The bytes are shared with the
// cache: callers must not modify them.
func (c *Cache) LocationJSON(ctx context.Context, epc string) ([]byte, error) {
	sh := &c.shards[maphash.String(c.seed, epc)%shards]
	gen := c.gen.load()
	now := c.now().UnixNano()
	sh.mu.RLock()
	e, ok := sh.m[epc]
	sh.mu.RUnlock()
	if ok && e.gen == gen && now < e.expires {
		c.hits.Add(1)
		return e.json, nil
	}
	c.misses.Add(1)
	// gen was read before the lookup: if a commit lands while we query, the
	// entry is stored under the old generation and is a miss next time.
	loc, err := c.next.Location(ctx, epc)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(loc)
	if err != nil {
		return nil, fmt.Errorf("encode location of %s: %w", epc, err)
	}
	e = entry{json: b, gen: gen, expires: now + int64(c.ttl)}
	sh.mu.Lock()
	if old, ok := sh.m[epc]; ok {
		sh.bytes -= old.size(epc)
		delete(sh.m, epc)
	}
	for k, v := range sh.m { // evict arbitrary entries (map order is random) until it fits
		if sh.bytes+e.size(epc) <= c.max {
			break
		}
		sh.bytes -= v.size(k)
		delete(sh.m, k)
	}
	if e.size(epc) <= c.max {
		sh.m[epc] = e
		sh.bytes += e.size(epc)
	}
	sh.mu.Unlock()
	return b, nil
}

// Stats returns the hit and miss counts since start.
func (c *Cache) Stats() (hits, misses uint64) { return c.hits.Load(), c.misses.Load() }
