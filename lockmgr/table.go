package lockmgr

// The two hash tables of the lock manager — resources in a shard and a
// transaction's granted requests — are intrusive chained tables rather than
// Go maps: entries link through a field of their own (no allocation per
// insert), and removing the last entry does not reseed the table the way a
// Go map does, which showed as the largest cost of an uncontended
// lock+unlock. Both index buckets with the high half of the resource hash,
// so that the shard bits (the low ones) do not thin out the buckets.

const minBuckets = 16

func bucketOf(h uint64, n int) int { return int(h>>32) & (n - 1) }

// headTable maps resource hashes to lock heads, chained through hashNext.
type headTable struct {
	buckets []*lockHead
	n       int
}

func (ht *headTable) find(h uint64, res Resource) *lockHead {
	if ht.buckets == nil {
		return nil
	}
	for e := ht.buckets[bucketOf(h, len(ht.buckets))]; e != nil; e = e.hashNext {
		if e.hash == h && e.matches(res) {
			return e
		}
	}
	return nil
}

func (ht *headTable) insert(e *lockHead) {
	if ht.n >= 2*len(ht.buckets) {
		ht.grow()
	}
	b := &ht.buckets[bucketOf(e.hash, len(ht.buckets))]
	e.hashNext = *b
	*b = e
	ht.n++
}

func (ht *headTable) remove(e *lockHead) {
	for p := &ht.buckets[bucketOf(e.hash, len(ht.buckets))]; *p != nil; p = &(*p).hashNext {
		if *p == e {
			*p = e.hashNext
			e.hashNext = nil
			ht.n--
			return
		}
	}
}

func (ht *headTable) grow() {
	old := ht.buckets
	ht.buckets = make([]*lockHead, max(minBuckets, 2*len(old)))
	for _, e := range old {
		for e != nil {
			next := e.hashNext
			b := &ht.buckets[bucketOf(e.hash, len(ht.buckets))]
			e.hashNext = *b
			*b = e
			e = next
		}
	}
}

// all calls f for every head.
func (ht *headTable) all(f func(*lockHead)) {
	for _, e := range ht.buckets {
		for ; e != nil; e = e.hashNext {
			f(e)
		}
	}
}

// reqTable maps resource hashes to a transaction's granted requests,
// chained through txnNext.
type reqTable struct {
	buckets []*lockReq
	n       int
}

func (rt *reqTable) find(h uint64, res Resource) *lockReq {
	if rt.n == 0 {
		return nil
	}
	for e := rt.buckets[bucketOf(h, len(rt.buckets))]; e != nil; e = e.txnNext {
		if e.hash == h && e.head.matches(res) {
			return e
		}
	}
	return nil
}

func (rt *reqTable) insert(e *lockReq) {
	if rt.n >= 2*len(rt.buckets) {
		rt.grow()
	}
	b := &rt.buckets[bucketOf(e.hash, len(rt.buckets))]
	e.txnNext = *b
	*b = e
	rt.n++
}

func (rt *reqTable) remove(e *lockReq) {
	for p := &rt.buckets[bucketOf(e.hash, len(rt.buckets))]; *p != nil; p = &(*p).txnNext {
		if *p == e {
			*p = e.txnNext
			e.txnNext = nil
			rt.n--
			return
		}
	}
}

func (rt *reqTable) grow() {
	old := rt.buckets
	rt.buckets = make([]*lockReq, max(minBuckets, 2*len(old)))
	for _, e := range old {
		for e != nil {
			next := e.txnNext
			b := &rt.buckets[bucketOf(e.hash, len(rt.buckets))]
			e.txnNext = *b
			*b = e
			e = next
		}
	}
}

// reset empties rt; a table grown large is dropped so that a pooled Txn
// does not keep it alive.
func (rt *reqTable) reset() {
	if len(rt.buckets) > 1024 {
		rt.buckets = nil
	} else {
		clear(rt.buckets)
	}
	rt.n = 0
}
