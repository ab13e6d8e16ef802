package planner

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/sql"
)

// DefaultCacheSize is the number of statement shapes a Cache of size zero
// keeps.
const DefaultCacheSize = 1024

// Cache keeps prepared statements by statement shape (sql.Normalize) and
// catalog version, so that a query repeated with other constants (the
// point reads of an application: SELECT … WHERE id = 42, then 43) is
// parsed, bound and planned once: each later text is only scanned for its
// constants, which become the values of the shape's parameters.
//
// A shape is used only when it means what the text means
// (sql.ShapeMatches: each constant keeps its own type); otherwise the
// shape is remembered as unusable and such texts are prepared by
// themselves, as are statements Normalize does not handle (INSERT, DDL,
// EXPLAIN, statements with parameters or comments). Entries of an older
// catalog version are prepared again on their next use. When full, the
// cache drops an arbitrary entry for each new one.
//
// A Cache is safe for concurrent use; the zero value is not usable (see
// NewCache).
type Cache struct {
	size int

	mu      sync.Mutex
	entries map[string]*cacheEntry

	hits, misses atomic.Uint64
}

// cacheEntry is the prepared shape of a key at a catalog version; p is nil
// when the shape cannot stand for its texts.
type cacheEntry struct {
	version uint64
	p       *Prepared
}

// NewCache returns a cache of up to size shapes (zero means
// DefaultCacheSize).
func NewCache(size int) *Cache {
	if size <= 0 {
		size = DefaultCacheSize
	}
	return &Cache{size: size, entries: make(map[string]*cacheEntry)}
}

// CacheStats counts the lookups of a Cache.
type CacheStats struct {
	// Hits are statements served from a cached shape, Misses the ones
	// prepared (their shape, or the text by itself).
	Hits, Misses uint64
	// Entries is the number of shapes cached.
	Entries int
}

// Stats returns the counters of c since NewCache.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	n := len(c.entries)
	c.mu.Unlock()
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Entries: n}
}

// Prepare is the package function Prepare through the cache: the result
// is the same statement, bound at the catalog's current version. A
// statement served from a shape carries its constants; it has no
// parameters of its own (Params is empty).
func (c *Cache) Prepare(text string, cat *catalog.Catalog) (*Prepared, error) {
	key, shape, consts, ok := sql.Normalize(text)
	if !ok {
		c.misses.Add(1)
		return Prepare(text, cat)
	}
	version := cat.Version()
	c.mu.Lock()
	e := c.entries[key]
	c.mu.Unlock()
	if e != nil && e.version == version {
		if e.p == nil {
			c.misses.Add(1)
			return Prepare(text, cat)
		}
		c.hits.Add(1)
		return e.p.withConsts(consts), nil
	}
	c.misses.Add(1)
	if len(consts) == 0 {
		p, err := Prepare(text, cat)
		if err != nil {
			return nil, err
		}
		if cacheable(p) {
			c.put(key, &cacheEntry{version: p.CatalogVersion, p: p})
		}
		return p, nil
	}
	e = &cacheEntry{version: version}
	if st, err := sql.BindShape(shape, cat); err == nil {
		if p, err := prepareBound(st, version); err == nil && cacheable(p) && sql.ShapeMatches(p.params, consts) {
			e.p = p
		}
	}
	c.put(key, e)
	if e.p == nil {
		return Prepare(text, cat)
	}
	return e.p.withConsts(consts), nil
}

// cacheable reports whether p may be shared by the texts of its shape: a
// query, UPDATE or DELETE whose result columns are not named after a
// parameter (an unaliased expression is named by its text, which in a
// shape has a ?; texts with a ? of their own have no shape).
func cacheable(p *Prepared) bool {
	switch p.Kind {
	case KindQuery, KindUpdate, KindDelete:
	default:
		return false
	}
	for _, f := range p.Schema.Fields() {
		if strings.IndexByte(f.Name, '?') >= 0 {
			return false
		}
	}
	return true
}

func (c *Cache) put(key string, e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.size {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[key] = e
}

// withConsts returns the statement p (a shape) for the text with consts:
// a copy whose parameters are bound to them and hidden.
func (p *Prepared) withConsts(consts []sql.ShapeConst) *Prepared {
	if len(consts) == 0 {
		return p
	}
	q := *p
	q.params = nil
	q.consts = make([]*sql.Literal, len(consts))
	for i, c := range consts {
		q.consts[i] = c.Literal()
	}
	return &q
}
