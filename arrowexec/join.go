package arrowexec

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb/internal/keyset"
)

// JoinType says which rows a hash join emits. The names are relative to the
// probe side (the outer, streamed input) and the build side (the inner input
// that is held in a hash table).
type JoinType uint8

// Join types.
const (
	// JoinInner emits the matching pairs: probe columns, then build columns.
	JoinInner JoinType = iota
	// JoinProbeOuter also emits every probe row without a match, with NULL
	// build columns (a LEFT JOIN when the probe side is the left input).
	JoinProbeOuter
	// JoinBuildOuter also emits every build row without a match, with NULL
	// probe columns, after all pairs.
	JoinBuildOuter
	// JoinFullOuter is JoinProbeOuter and JoinBuildOuter together.
	JoinFullOuter
	// JoinSemi emits each probe row that has at least one match, once;
	// the output has the probe columns only.
	JoinSemi
	// JoinAnti emits each probe row without a match (NOT EXISTS); the output
	// has the probe columns only. A probe row with a NULL key has no match.
	JoinAnti
	// JoinNullAwareAnti is NOT IN: like JoinAnti, but when the build side is
	// not empty, a probe row is also dropped when its key has a NULL or when
	// any build key has a NULL (the IN would be NULL, not FALSE). It takes
	// exactly one key and no residual.
	JoinNullAwareAnti
	// JoinMark emits every probe row once with one more column, a
	// non-nullable BOOLEAN that says whether the row has a match (EXISTS in
	// an expression: under OR or in the select list).
	JoinMark
	// JoinNullAwareMark is JoinMark for IN (subquery): the mark is TRUE for a
	// match, FALSE when the build side is empty, and otherwise NULL when the
	// probe key is NULL or any build key is NULL, FALSE else. It takes
	// exactly one key and no residual; the mark column is nullable.
	JoinNullAwareMark
	// JoinBuildSemi is JoinSemi with the sides' roles swapped: it emits
	// each build row that has at least one match, once, after the probe
	// side is exhausted; the output has the build columns only. A semi
	// join whose preserved side is much smaller than the other builds it
	// and streams the large side through it.
	JoinBuildSemi
	// JoinBuildAnti is JoinAnti with the sides' roles swapped: it emits
	// each build row without a match (a build row with a NULL key has
	// none) after the probe side is exhausted; the output has the build
	// columns only.
	JoinBuildAnti
)

func (t JoinType) String() string {
	switch t {
	case JoinInner:
		return "inner"
	case JoinProbeOuter:
		return "probe-outer"
	case JoinBuildOuter:
		return "build-outer"
	case JoinFullOuter:
		return "full-outer"
	case JoinSemi:
		return "semi"
	case JoinAnti:
		return "anti"
	case JoinNullAwareAnti:
		return "null-aware-anti"
	case JoinMark:
		return "mark"
	case JoinNullAwareMark:
		return "null-aware-mark"
	case JoinBuildSemi:
		return "build-semi"
	case JoinBuildAnti:
		return "build-anti"
	}
	return fmt.Sprintf("JoinType(%d)", int(t))
}

func (t JoinType) keepsBuild() bool {
	return t == JoinInner || t == JoinProbeOuter || t == JoinBuildOuter || t == JoinFullOuter
}
func (t JoinType) mark() bool       { return t == JoinMark || t == JoinNullAwareMark }
func (t JoinType) probeOuter() bool { return t == JoinProbeOuter || t == JoinFullOuter }
func (t JoinType) buildOuter() bool { return t == JoinBuildOuter || t == JoinFullOuter }

// onBuild reports whether the join emits build rows alone, once the probe
// side is exhausted (JoinBuildSemi, JoinBuildAnti).
func (t JoinType) onBuild() bool { return t == JoinBuildSemi || t == JoinBuildAnti }

// HashJoinOptions configures NewHashJoin.
type HashJoinOptions struct {
	// Type is the join type; the zero value is an inner join.
	Type JoinType
	// ProbeKeys and BuildKeys are the equality keys, evaluated over the
	// probe and the build batches; key i of both sides must have the same
	// Arrow type. NULL keys never match. No keys make a cross (nested-loop)
	// join in which every probe row meets every build row.
	ProbeKeys, BuildKeys []Expr
	// Residual, when non-nil, is a BOOLEAN condition over the probe columns
	// followed by the build columns that a pair must also satisfy (NULL is
	// false). It is evaluated on batches of candidate pairs.
	Residual Expr
	// BatchSize bounds the rows of output batches; 0 means 4096.
	BatchSize int
	// RuntimeFilters, when not empty, receive the values of their build
	// keys once the build side is read (rtfilter.go). Only joins that
	// never emit an unmatched probe row take them.
	RuntimeFilters []*RuntimeFilter
}

// hashJoin holds the build side in one concatenated batch, chained by key
// (next[row] → following row of the same key), and streams the probe side
// through it. The first row of each chain is found through an intTable
// (key → first row) when the only key is an integer column, else through a
// groupTable (key → group, head[group] → first row).
type hashJoin struct {
	probe, build Operator
	opts         HashJoinOptions
	schema       *arrow.Schema
	pairSchema   *arrow.Schema // probe ++ build, the residual's input
	nprobe       int
	batchSize    int

	ctx  context.Context
	mem  memory.Allocator
	acct accounted
	out  batchHolder

	// shared, when not nil, owns the build operator and the table, built
	// once for several joins (NewSharedHashJoin).
	shared *SharedBuild
	closed bool

	// Build state.
	built        bool
	brec         arrow.RecordBatch // nil when the build side is empty
	nbuild       int
	table        *groupTable
	head         []int32   // first row of each group of table
	itab         *intTable // instead of table and head when the only key is an integer column: key → first row
	ikeys        []int64   // widened (or packed) integer keys of a batch
	pack         *joinPack // packs several integer keys into one for itab
	pmiss        []bool    // probe rows whose keys are outside pack's ranges
	packBuf      []int64   // pack's scratch space
	next         []int32   // next row of the same key, -1 at a chain's end
	buildHasNull bool
	unique       bool // no two build rows have the same key: no chain goes on
	buildMatched []bool
	enc          keyEncoder

	// Probe state.
	prec      arrow.RecordBatch // current probe batch
	pgroup    []int32           // first build row of the chain of each probe row's key, -1 no match, -2 NULL key
	prow      int               // next probe row to expand
	pchain    int32             // next build row of prow's chain (-1: start at head)
	sink      uint64            // keeps the loads of the tables' blockwise probes
	pmatched  []bool
	pdone     bool // probe side exhausted
	tailEmit  bool // unmatched probe rows of prec still to emit
	buildTail int  // next build row to consider for build-outer emission
	tailOwner bool // of the joins sharing the build, this one emits the build rows
	pIdx      []int32
	bIdx      []int32
	sel       []int32
}

var _ Operator = (*hashJoin)(nil)

// NewHashJoin joins probe with build on equal keys (see HashJoinOptions).
// The output has the probe columns followed by the build columns for inner
// and outer joins (build columns nullable for probe-outer joins, probe
// columns nullable for build-outer joins), the probe columns alone for
// semi and anti joins and the build columns alone for build-semi and
// build-anti joins. The build side is consumed in Open and accounted
// against the query's Budget; the probe side is streamed.
func NewHashJoin(probe, build Operator, opts HashJoinOptions) (Operator, error) {
	if len(opts.ProbeKeys) != len(opts.BuildKeys) {
		return nil, fmt.Errorf("arrowexec: hash join with %d probe keys and %d build keys", len(opts.ProbeKeys), len(opts.BuildKeys))
	}
	for i := range opts.ProbeKeys {
		pt, bt := opts.ProbeKeys[i].DataType(), opts.BuildKeys[i].DataType()
		if !arrow.TypeEqual(pt, bt) && pt.ID() != arrow.NULL && bt.ID() != arrow.NULL {
			return nil, fmt.Errorf("arrowexec: hash join key %d has types %s and %s", i, pt, bt)
		}
		if fixedWidth(pt) < 0 && pt.ID() != arrow.STRING {
			return nil, fmt.Errorf("arrowexec: cannot join on %s", pt)
		}
	}
	if (opts.Type == JoinNullAwareAnti || opts.Type == JoinNullAwareMark) && (len(opts.ProbeKeys) != 1 || opts.Residual != nil) {
		return nil, fmt.Errorf("arrowexec: a %s join takes one key and no residual", opts.Type)
	}
	for _, f := range opts.RuntimeFilters {
		if !opts.Type.canFilterProbe() || f.Key < 0 || f.Key >= len(opts.BuildKeys) {
			return nil, fmt.Errorf("arrowexec: a %s join cannot filter its probe side on key %d", opts.Type, f.Key)
		}
	}
	if opts.Residual != nil && opts.Residual.DataType().ID() != arrow.BOOL {
		return nil, fmt.Errorf("arrowexec: join condition must be BOOLEAN, not %s", opts.Residual.DataType())
	}
	ps, bs := probe.Schema(), build.Schema()
	pairFields := make([]arrow.Field, 0, ps.NumFields()+bs.NumFields())
	pairFields = append(pairFields, ps.Fields()...)
	pairFields = append(pairFields, bs.Fields()...)
	j := &hashJoin{probe: probe, build: build, opts: opts, nprobe: ps.NumFields(), batchSize: opts.BatchSize,
		pairSchema: arrow.NewSchema(pairFields, nil)}
	if j.batchSize <= 0 {
		j.batchSize = 4096
	}
	if opts.Type.keepsBuild() {
		fields := make([]arrow.Field, len(pairFields))
		copy(fields, pairFields)
		for i := range fields {
			if i < j.nprobe && opts.Type.buildOuter() || i >= j.nprobe && opts.Type.probeOuter() {
				fields[i].Nullable = true
			}
		}
		j.schema = arrow.NewSchema(fields, nil)
	} else if opts.Type.mark() {
		fields := append(append([]arrow.Field{}, ps.Fields()...),
			arrow.Field{Name: "mark", Type: arrow.FixedWidthTypes.Boolean, Nullable: opts.Type == JoinNullAwareMark})
		j.schema = arrow.NewSchema(fields, nil)
	} else if opts.Type.onBuild() {
		j.schema = bs
	} else {
		j.schema = ps
	}
	return j, nil
}

func (j *hashJoin) Schema() *arrow.Schema { return j.schema }

func (j *hashJoin) Open(ctx context.Context) error {
	j.ctx = ctx
	j.mem = exec.GetAllocator(ctx)
	j.acct.budget = BudgetFrom(ctx)
	if j.shared != nil {
		if err := j.shared.open(ctx, j); err != nil {
			return err
		}
	} else if err := j.build.Open(ctx); err != nil {
		return err
	}
	return j.probe.Open(ctx)
}

// consumeBuild reads the whole build side and indexes it, or takes the
// shared table.
func (j *hashJoin) consumeBuild() error {
	if j.shared != nil {
		return j.shared.consumeShared(j)
	}
	return j.consumeOwnBuild()
}

// adoptBuild makes j probe the table that from built, without copying it:
// the fields are read-only once built; brec gets a reference of j's own.
func (j *hashJoin) adoptBuild(from *hashJoin) {
	j.brec, j.nbuild = from.brec, from.nbuild
	if j.brec != nil {
		j.brec.Retain()
	}
	j.table, j.itab, j.head, j.next = from.table, from.itab, from.head, from.next
	j.pack, j.unique = from.pack, from.unique
	j.buildHasNull = from.buildHasNull
}

// consumeOwnBuild reads the whole build side and indexes it.
func (j *hashJoin) consumeOwnBuild() error {
	j.built = true
	var batches []arrow.RecordBatch
	var batchBytes int64
	defer func() {
		for _, b := range batches {
			b.Release()
		}
	}()
	for {
		if err := j.ctx.Err(); err != nil {
			return err
		}
		b, err := j.build.Next()
		if err != nil {
			return err
		}
		if b == nil {
			break
		}
		sz := recordBytes(b)
		if err := j.acct.grow(sz); err != nil {
			return err
		}
		batchBytes += sz
		b.Retain()
		batches = append(batches, b)
	}
	// Concatenating copies the batches (unless there is one): the copy is
	// charged before it is made, and the batches' share returned once
	// they are released.
	base := j.acct.held - batchBytes // what j held before the build
	if len(batches) > 1 {
		if err := j.acct.grow(batchBytes); err != nil {
			return err
		}
	}
	rec, err := concatBatches(j.mem, j.build.Schema(), batches)
	if err != nil {
		return fmt.Errorf("arrowexec: cannot concatenate the build side of a join: %w", err)
	}
	for _, b := range batches {
		b.Release()
	}
	batches = nil
	if rec != nil {
		base += recordBytes(rec)
	}
	if err := j.acct.set(base); err != nil {
		if rec != nil {
			rec.Release()
		}
		return err
	}
	if rec == nil {
		for _, f := range j.opts.RuntimeFilters {
			f.publish(keyset.Empty)
		}
		return nil
	}
	j.brec = rec
	n := int(rec.NumRows())
	j.nbuild = n
	j.next = make([]int32, n)
	keys, err := evalAll(j.ctx, j.opts.BuildKeys, rec)
	if err != nil {
		return err
	}
	defer releaseAll(keys)
	nulls := nullRows(keys, n)
	if err := j.publishFilters(keys, nulls); err != nil {
		return err
	}
	if len(keys) == 1 {
		if ik, buf, ok := intKeys(keys[0], j.ikeys); ok {
			j.ikeys = buf
			j.buildInts(ik, nulls)
		}
	} else if len(keys) > 1 {
		if p := newJoinPack(keys, nulls, n); p != nil {
			j.pack = p
			j.ikeys, j.pmiss = growSlice(j.ikeys, n), growSlice(j.pmiss, n)
			j.packBuf = p.pack(keys, n, j.ikeys, j.pmiss, j.packBuf)
			j.buildInts(j.ikeys[:n], nulls)
		}
	}
	if j.itab == nil {
		if err := j.enc.encode(keys, n); err != nil {
			return err
		}
		j.table = newGroupTable()
		// next holds each row's group until the rows are chained, in
		// reverse so that each chain lists its rows in input order.
		j.sink |= j.table.findAll(&j.enc, nulls, j.next)
		j.head = make([]int32, j.table.len())
		for i := range j.head {
			j.head[i] = -1
		}
		j.unique = true
		for i := n - 1; i >= 0; i-- {
			g := j.next[i]
			if g < 0 {
				j.buildHasNull = true
				continue
			}
			j.next[i] = j.head[g]
			j.head[g] = int32(i)
			j.unique = j.unique && j.next[i] < 0
		}
	}
	if j.opts.Type.buildOuter() || j.opts.Type.onBuild() {
		j.buildMatched = make([]bool, n)
	}
	tableBytes := int64(0)
	if j.itab != nil {
		tableBytes = j.itab.bytes()
	} else {
		tableBytes = j.table.bytes() + int64(4*len(j.head))
	}
	// The chains, the matched flags, and the key buffers the build sized
	// to its rows, which the probe reuses.
	return j.acct.grow(tableBytes + sliceBytes(j.next) + sliceBytes(j.buildMatched) + sliceBytes(j.ikeys) +
		sliceBytes(j.pmiss) + sliceBytes(j.packBuf) + j.enc.bytes())
}

// publishFilters publishes the keys of the build rows without NULL keys
// to the join's runtime filters.
func (j *hashJoin) publishFilters(keys []arrow.Array, nulls []bool) error {
	for _, f := range j.opts.RuntimeFilters {
		ik, _, ok := intKeys(keys[f.Key], nil)
		if !ok {
			continue // not an integer key: the filter stays unpublished
		}
		if nulls != nil {
			vals := make([]int64, 0, len(ik))
			for i, v := range ik {
				if !nulls[i] {
					vals = append(vals, v)
				}
			}
			ik = vals
		}
		maxExact := f.MaxExact
		if maxExact == 0 {
			maxExact = DefaultRuntimeFilterKeys
		}
		s := keyset.New(ik, maxExact)
		if err := j.acct.grow(s.Bytes()); err != nil {
			// A filter only narrows what the probe side reads: over the
			// budget, publish the keys' range, which holds no memory,
			// rather than fail the query for want of an optimization.
			s = keyset.Range(s.Min, s.Max)
		}
		f.publish(s)
	}
	return nil
}

// buildInts indexes the integer keys ik of the build rows (NULL where
// nulls says so) in an intTable whose slots hold the first row of each
// key's chain: a dense one when the keys' range allows, else a hash table
// sized once for an upper bound of the distinct keys, the number of runs of
// equal keys (build sides are often sorted or clustered by their key:
// lineitem by l_orderkey), so that it never rehashes.
func (j *hashJoin) buildInts(ik []int64, nulls []bool) {
	n := len(ik)
	runs, sorted := 0, true
	for i, k := range ik {
		if i == 0 || k != ik[i-1] {
			runs++
			sorted = sorted && (i == 0 || k > ik[i-1])
		}
	}
	// Runs count the distinct keys of a sorted build exactly; of an
	// unsorted one they may count every row, so the estimate is a quarter
	// of that at most (the hash table grows if it must).
	distinct := runs
	if !sorted {
		distinct = min(runs, max(n/4, 1024))
	}
	if lo, span, ok := denseSpan(ik, nulls, distinct); ok {
		j.itab = newDenseIntTable(lo, span)
	} else {
		j.itab = newIntTableSize(distinct)
	}
	// Rows are chained in reverse so that each chain lists its rows in
	// input order. A hash table larger than the caches has its home slots
	// of a block of keys loaded first, so that their misses overlap (as
	// lookupBatch does for the probe).
	touch := j.itab.dense == nil && len(j.itab.slots) > 1<<12
	var idx [probeBatch]int32
	dup := int32(0)
	for hi := n; hi > 0; hi -= probeBatch {
		lo := max(hi-probeBatch, 0)
		if touch {
			j.sink |= uint64(j.itab.touch(ik[lo:hi], idx[:]))
		}
		for i := hi - 1; i >= lo; i-- {
			if nulls != nil && nulls[i] {
				j.buildHasNull = true
				j.next[i] = -1
				continue
			}
			j.next[i] = j.itab.push(ik[i], int32(i))
			dup |= j.next[i] + 1 // stays 0 while every push starts a chain
		}
	}
	j.unique = dup == 0
}

// nullRows returns which rows have a NULL in any key column, or nil when
// none has.
func nullRows(keys []arrow.Array, n int) []bool {
	var out []bool
	for _, k := range keys {
		bits, off := validity(k)
		if bits == nil && k.DataType().ID() != arrow.NULL {
			continue
		}
		if out == nil {
			out = make([]bool, n)
		}
		for i := 0; i < n; i++ {
			if bits == nil || !bitutil.BitIsSet(bits, off+i) {
				out[i] = true
			}
		}
	}
	return out
}

func evalAll(ctx context.Context, es []Expr, b arrow.RecordBatch) ([]arrow.Array, error) {
	out := make([]arrow.Array, len(es))
	for i, e := range es {
		a, err := e.Eval(ctx, b)
		if err != nil {
			releaseAll(out)
			return nil, err
		}
		out[i] = a
	}
	return out, nil
}

// startProbe evaluates the keys of a new probe batch.
func (j *hashJoin) startProbe(b arrow.RecordBatch) error {
	n := int(b.NumRows())
	j.prec = b
	j.prow, j.pchain = 0, -1
	j.pgroup = growInt32(j.pgroup, n)
	if cap(j.pmatched) < n {
		j.pmatched = make([]bool, n)
	}
	j.pmatched = j.pmatched[:n]
	clear(j.pmatched)
	j.tailEmit = true
	if j.brec == nil {
		for i := range j.pgroup {
			j.pgroup[i] = -1
		}
		return nil
	}
	keys, err := evalAll(j.ctx, j.opts.ProbeKeys, b)
	if err != nil {
		return err
	}
	defer releaseAll(keys)
	nulls := nullRows(keys, n)
	if len(keys) == 0 {
		for i := range j.pgroup {
			j.pgroup[i] = j.head[0]
		}
		return nil
	}
	if j.itab != nil && j.pack != nil {
		j.ikeys, j.pmiss = growSlice(j.ikeys, n), growSlice(j.pmiss, n)
		j.packBuf = j.pack.pack(keys, n, j.ikeys, j.pmiss, j.packBuf)
		j.sink |= uint64(j.itab.lookupBatch(j.ikeys[:n], j.pgroup))
		for i, m := range j.pmiss[:n] {
			if m {
				j.pgroup[i] = -1
			}
		}
		for i := range nulls {
			if nulls[i] {
				j.pgroup[i] = -2
			}
		}
		return nil
	}
	if j.itab != nil {
		ik, buf, ok := intKeys(keys[0], j.ikeys)
		j.ikeys = buf
		if !ok {
			return fmt.Errorf("arrowexec: join probe key %s, build key is an integer", keys[0].DataType())
		}
		j.sink |= uint64(j.itab.lookupBatch(ik[:n], j.pgroup))
		for i := range nulls {
			if nulls[i] {
				j.pgroup[i] = -2
			}
		}
		return nil
	}
	if err := j.enc.encode(keys, n); err != nil {
		return err
	}
	j.sink |= j.table.lookupAll(&j.enc, nulls, j.pgroup[:n])
	for i, g := range j.pgroup[:n] {
		if g >= 0 {
			j.pgroup[i] = j.head[g]
		}
	}
	return nil
}

// expand collects up to batchSize candidate pairs of the current probe batch
// into pIdx/bIdx, resuming where the last call stopped.
func (j *hashJoin) expand() {
	j.pIdx, j.bIdx = j.pIdx[:0], j.bIdx[:0]
	n := len(j.pgroup)
	// Build-side semi and anti joins without a residual need no pairs:
	// a probe row's match marks its key's whole chain.
	if j.opts.Residual == nil && j.opts.Type.onBuild() {
		for ; j.prow < n; j.prow++ {
			// A marked first row means a marked chain: later probe rows
			// of the key skip it.
			r := j.pgroup[j.prow]
			if r < 0 || j.buildMatched[r] {
				continue
			}
			for ; r >= 0; r = j.next[r] {
				j.buildMatched[r] = true
			}
		}
		return
	}
	// Semi and anti joins without a residual need no pairs: the first
	// match decides.
	if j.opts.Residual == nil && !j.opts.Type.keepsBuild() {
		for ; j.prow < n; j.prow++ {
			j.pmatched[j.prow] = j.pgroup[j.prow] >= 0
		}
		return
	}
	// With unique build keys, a probe row has at most one candidate, the
	// first row of its key's chain: no chain to walk.
	if j.unique && j.pchain == -1 {
		end := min(n, j.prow+j.batchSize)
		for ; j.prow < end; j.prow++ {
			if g := j.pgroup[j.prow]; g >= 0 {
				j.pIdx = append(j.pIdx, int32(j.prow))
				j.bIdx = append(j.bIdx, g)
			}
		}
		return
	}
	for j.prow < n && len(j.pIdx) < j.batchSize {
		g := j.pgroup[j.prow]
		if g < 0 {
			j.prow++
			continue
		}
		r := j.pchain
		if r == -1 {
			r = g
		}
		for r >= 0 && len(j.pIdx) < j.batchSize {
			// A semi join stops at its first (residual-checked) match.
			if (j.opts.Type == JoinSemi || j.opts.Type == JoinMark) && j.pmatched[j.prow] {
				r = -1
				break
			}
			// A build row matched once is decided.
			if j.opts.Type.onBuild() && j.buildMatched[r] {
				r = j.next[r]
				continue
			}
			j.pIdx = append(j.pIdx, int32(j.prow))
			j.bIdx = append(j.bIdx, r)
			r = j.next[r]
		}
		if r >= 0 {
			j.pchain = r
			return
		}
		j.pchain = -1
		j.prow++
	}
}

// pairs materialises rows pIdx of the probe batch beside rows bIdx of the
// build batch (-1: NULL) as a record of schema.
func (j *hashJoin) pairs(schema *arrow.Schema, pIdx, bIdx []int32) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, 0, schema.NumFields())
	defer func() { releaseAll(cols) }()
	n := len(pIdx)
	if n == 0 {
		n = len(bIdx)
	}
	// When every row of the probe batch is in the output once, in order
	// (each has one match: the common case behind a selective build side
	// whose runtime filter the probe scan applied), the output shares the
	// probe batch's columns instead of copying them.
	whole := pIdx != nil && isIdentity(pIdx, int(j.prec.NumRows()))
	for c := 0; c < j.nprobe; c++ {
		var a arrow.Array
		var err error
		switch {
		case pIdx == nil:
			a = array.MakeArrayOfNull(j.mem, j.probe.Schema().Field(c).Type, n)
		case whole:
			a = j.prec.Column(c)
			a.Retain()
		default:
			if a, err = take(j.mem, j.prec.Column(c), pIdx); err != nil {
				return nil, err
			}
		}
		cols = append(cols, a)
	}
	if schema.NumFields() > j.nprobe {
		for c := 0; c < int(j.build.Schema().NumFields()); c++ {
			a, err := takeOrNull(j.mem, j.brec, c, j.build.Schema().Field(c).Type, bIdx)
			if err != nil {
				return nil, err
			}
			cols = append(cols, a)
		}
	}
	out := array.NewRecordBatch(schema, cols, int64(n))
	return out, nil
}

// growSlice returns s with length n, reallocated (not copied) when its
// capacity is smaller.
func growSlice[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n, n+n/4)
	}
	return s[:n]
}

// isIdentity reports whether idx is 0, 1, …, n-1.
func isIdentity(idx []int32, n int) bool {
	if len(idx) != n {
		return false
	}
	for i, v := range idx {
		if v != int32(i) {
			return false
		}
	}
	return true
}

// takeOrNull gathers rows idx of column c of rec, where -1 (or a nil rec)
// gives NULL.
func takeOrNull(mem memory.Allocator, rec arrow.RecordBatch, c int, dt arrow.DataType, idx []int32) (arrow.Array, error) {
	hasNull := rec == nil
	for _, i := range idx {
		if i < 0 {
			hasNull = true
			break
		}
	}
	if !hasNull {
		return take(mem, rec.Column(c), idx)
	}
	if rec == nil || rec.NumRows() == 0 {
		return array.MakeArrayOfNull(mem, dt, len(idx)), nil
	}
	safe := make([]int32, len(idx))
	for k, i := range idx {
		safe[k] = max(i, 0)
	}
	a, err := take(mem, rec.Column(c), safe)
	if err != nil {
		return nil, err
	}
	defer a.Release()
	if dt.ID() == arrow.NULL {
		a.Retain()
		return a, nil
	}
	vb := allocBitmap(mem, len(idx))
	bits := vb.Bytes()
	nulls := 0
	for k, i := range idx {
		if i >= 0 && a.IsValid(k) {
			bitutil.SetBit(bits, k)
		} else {
			nulls++
		}
	}
	bufs := append([]*memory.Buffer{vb}, a.Data().Buffers()[1:]...)
	d := array.NewData(dt, len(idx), bufs, nil, nulls, 0)
	vb.Release()
	out := array.MakeFromData(d)
	d.Release()
	return out, nil
}

// checkResidual keeps the pairs for which the residual holds.
func (j *hashJoin) checkResidual() error {
	if j.opts.Residual == nil || len(j.pIdx) == 0 {
		return nil
	}
	rec, err := j.pairs(j.pairSchema, j.pIdx, j.bIdx)
	if err != nil {
		return err
	}
	defer rec.Release()
	m, err := j.opts.Residual.Eval(j.ctx, rec)
	if err != nil {
		return err
	}
	defer m.Release()
	mask, ok := m.(*array.Boolean)
	if !ok {
		j.pIdx, j.bIdx = j.pIdx[:0], j.bIdx[:0]
		return nil
	}
	bm, _ := trueMask(j.mem, mask)
	j.sel = selectionOf(j.sel[:0], bm.Bytes(), len(j.pIdx))
	bm.Release()
	for k, s := range j.sel {
		j.pIdx[k], j.bIdx[k] = j.pIdx[s], j.bIdx[s]
	}
	j.pIdx, j.bIdx = j.pIdx[:len(j.sel)], j.bIdx[:len(j.sel)]
	return nil
}

func (j *hashJoin) Next() (arrow.RecordBatch, error) {
	j.out.release()
	if !j.built {
		if err := j.consumeBuild(); err != nil {
			return nil, err
		}
	}
	for {
		if err := j.ctx.Err(); err != nil {
			return nil, err
		}
		if j.prec == nil {
			if j.pdone {
				return j.emitBuildTail()
			}
			b, err := j.probe.Next()
			if err != nil {
				return nil, err
			}
			if b == nil {
				j.pdone = true
				continue
			}
			b.Retain()
			if err := j.startProbe(b); err != nil {
				return nil, err
			}
		}
		if j.prow < len(j.pgroup) {
			j.expand()
			if err := j.checkResidual(); err != nil {
				return nil, err
			}
			for _, p := range j.pIdx {
				j.pmatched[p] = true
			}
			if j.buildMatched != nil {
				for _, r := range j.bIdx {
					j.buildMatched[r] = true
				}
			}
			if j.opts.Type.keepsBuild() && len(j.pIdx) > 0 {
				rec, err := j.pairs(j.schema, j.pIdx, j.bIdx)
				if err != nil {
					return nil, err
				}
				return j.out.set(rec), nil
			}
			continue
		}
		// The probe batch is expanded: emit what depends on all its
		// matches, then move on.
		rec, err := j.emitProbeTail()
		j.prec.Release()
		j.prec = nil
		if err != nil {
			return nil, err
		}
		if rec != nil {
			return j.out.set(rec), nil
		}
	}
}

// emitProbeTail returns the rows of the finished probe batch that semi, anti
// and probe-outer joins emit, or nil.
func (j *hashJoin) emitProbeTail() (arrow.RecordBatch, error) {
	j.sel = j.sel[:0]
	n := len(j.pgroup)
	switch j.opts.Type {
	case JoinInner, JoinBuildOuter, JoinBuildSemi, JoinBuildAnti:
		return nil, nil
	case JoinSemi:
		for i := 0; i < n; i++ {
			if j.pmatched[i] {
				j.sel = append(j.sel, int32(i))
			}
		}
	case JoinAnti:
		for i := 0; i < n; i++ {
			if !j.pmatched[i] {
				j.sel = append(j.sel, int32(i))
			}
		}
	case JoinNullAwareAnti:
		if j.brec != nil && j.buildHasNull {
			return nil, nil
		}
		for i := 0; i < n; i++ {
			if !j.pmatched[i] && (j.brec == nil || j.pgroup[i] != -2) {
				j.sel = append(j.sel, int32(i))
			}
		}
	case JoinMark, JoinNullAwareMark:
		return j.markRecord()
	case JoinProbeOuter, JoinFullOuter:
		for i := 0; i < n; i++ {
			if !j.pmatched[i] {
				j.sel = append(j.sel, int32(i))
			}
		}
		if len(j.sel) == 0 {
			return nil, nil
		}
		j.bIdx = j.bIdx[:0]
		for range j.sel {
			j.bIdx = append(j.bIdx, -1)
		}
		return j.pairs(j.schema, j.sel, j.bIdx)
	}
	if len(j.sel) == 0 {
		return nil, nil
	}
	if len(j.sel) == n {
		j.prec.Retain()
		return j.prec, nil
	}
	return takeRecord(j.mem, j.prec, j.sel)
}

// markRecord returns the finished probe batch with its mark column.
func (j *hashJoin) markRecord() (arrow.RecordBatch, error) {
	n := len(j.pgroup)
	// With a non-empty build side holding a NULL key, an unmatched IN is
	// NULL; so is one whose probe key is NULL.
	nullAware := j.opts.Type == JoinNullAwareMark && j.brec != nil
	vals := allocBitmap(j.mem, n)
	defer vals.Release()
	var valid *memory.Buffer
	nulls := 0
	if nullAware {
		valid = allocBitmap(j.mem, n)
		defer valid.Release()
	}
	vb := vals.Bytes()
	for i := 0; i < n; i++ {
		if j.pmatched[i] {
			bitutil.SetBit(vb, i)
		}
		if valid != nil {
			if j.pmatched[i] || !j.buildHasNull && j.pgroup[i] != -2 {
				bitutil.SetBit(valid.Bytes(), i)
			} else {
				nulls++
			}
		}
	}
	bufs := []*memory.Buffer{nil, vals}
	if nulls > 0 {
		bufs[0] = valid
	}
	d := array.NewData(arrow.FixedWidthTypes.Boolean, n, bufs, nil, nulls, 0)
	mark := array.MakeFromData(d)
	d.Release()
	defer mark.Release()
	cols := make([]arrow.Array, 0, j.nprobe+1)
	cols = append(cols, j.prec.Columns()...)
	cols = append(cols, mark)
	return array.NewRecordBatch(j.schema, cols, int64(n)), nil
}

// emitBuildTail emits the unmatched build rows of build-outer joins, then
// ends the stream.
func (j *hashJoin) emitBuildTail() (arrow.RecordBatch, error) {
	if j.buildMatched == nil {
		return nil, nil
	}
	if j.shared != nil && !j.tailOwner {
		// Of the joins that share the build, the last to finish emits
		// the build rows, with the matches of all.
		if !j.shared.finishProbe(j) {
			j.buildMatched = nil
			return nil, nil
		}
		j.tailOwner = true
	}
	// Build-outer and build-anti joins emit the unmatched rows, build-semi
	// joins the matched ones.
	want := j.opts.Type == JoinBuildSemi
	j.bIdx = j.bIdx[:0]
	for ; j.buildTail < j.nbuild && len(j.bIdx) < j.batchSize; j.buildTail++ {
		if j.buildMatched[j.buildTail] == want {
			j.bIdx = append(j.bIdx, int32(j.buildTail))
		}
	}
	if len(j.bIdx) == 0 {
		return nil, nil
	}
	if j.opts.Type.onBuild() {
		rec, err := takeRecord(j.mem, j.brec, j.bIdx)
		if err != nil {
			return nil, err
		}
		return j.out.set(rec), nil
	}
	rec, err := j.pairs(j.schema, nil, j.bIdx)
	if err != nil {
		return nil, err
	}
	return j.out.set(rec), nil
}

func (j *hashJoin) Close() error {
	// Idempotent: a shared build counts one reference per join.
	if j.closed {
		return nil
	}
	j.closed = true
	j.out.release()
	if j.prec != nil {
		j.prec.Release()
		j.prec = nil
	}
	if j.brec != nil {
		j.brec.Release()
		j.brec = nil
	}
	j.acct.shrink(j.acct.held)
	err := j.probe.Close()
	closeBuild := j.build.Close
	if j.shared != nil {
		closeBuild = j.shared.Release
	}
	if e := closeBuild(); err == nil {
		err = e
	}
	return err
}
