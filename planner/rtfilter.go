package planner

import (
	"fmt"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/sql"
)

// Runtime filters.
//
// A hash join builds its (usually small, filtered) side before it reads
// its probe side. When its probe key is a plain column of a table scanned
// below the probe side, the join hands the build keys to that scan
// (arrowexec.RuntimeFilter): the storage skips row groups whose zone map
// misses the keys' range and rows whose key is not among them, before it
// decodes their other columns (segments.KeyFilter). TPC-H Q8 builds 1.3K
// parts and probes 6M lineitem rows, of which 45K match.
//
// Where a filter is correct. The scan may drop a row only if the join
// would drop every row that derives from it; so the join must never emit
// an unmatched probe row (inner joins, semi joins, and the build-semi and
// build-anti joins whose probe side is the subquery's; not anti, mark,
// null-aware or outer joins on their probe side), and the key must reach
// the join unchanged from the scan: only through Filters, Sorts, Projects
// that pass it as a column, the left input of semi, anti and mark joins,
// either input of an inner join and the preserved input of an outer join
// (a row of which keeps its key). Not through aggregates, windows,
// limits (which rows they keep depends on the rows they see), unions,
// expressions, or the NULL-supplying side of an outer join. NULL keys
// never match an equality join and are never in the filter.
//
// The scan must also be read only in that one place: a plan may hold one
// node twice (a CTE inlined at each reference), so a scan node that
// occurs more than once in the plan, subqueries included, gets no filter.
//
// The key filter of a semi-join reduction (keyfilter.go) is a semi join
// whose set of keys it reads before it opens its input: it publishes that
// set to a runtime filter of the scan below it, under the same rules (TPC-H
// Q17's average per part then decodes the quantities of the 6K lineitem
// rows of the 204 parts, not of all 6M).
//
// The filter is a superset filter: a scan that cannot use it (the row
// store, pqarrow decodes, scans with deleted rows) or that starts before
// the build ended reads every row, and the join still tests each row it
// gets. The pipelines of a parallel aggregate that probe one shared build
// share its filters: they are planned before the scan is partitioned, and
// every partition's scan gets them.

// RuntimeKey is a runtime filter on one column of a scanned table: the
// scan may leave out rows whose value of Col is not among Filter's keys,
// once the join has published them (Filter.Keys() is not nil).
type RuntimeKey struct {
	// Col is an index into the table's columns.
	Col    int
	Filter *arrowexec.RuntimeFilter
}

// rtState holds the runtime filters of one build of a plan. Copies of a
// builder share it.
type rtState struct {
	// scans counts the occurrences of each scan node in the plan.
	scans map[*sql.Scan]int
	// keys holds the runtime filters of each scan; joins those each join
	// publishes. A join is in joins once planned, with or without filters.
	keys  map[*sql.Scan][]RuntimeKey
	joins map[*sql.Join][]*arrowexec.RuntimeFilter
}

// newRTState prepares the runtime filters of plan.
func newRTState(plan sql.Node) *rtState {
	rt := &rtState{scans: map[*sql.Scan]int{}, keys: map[*sql.Scan][]RuntimeKey{},
		joins: map[*sql.Join][]*arrowexec.RuntimeFilter{}}
	countScans(plan, rt.scans)
	return rt
}

// countScans counts the scan nodes of n and of the subqueries of its
// expressions.
func countScans(n sql.Node, counts map[*sql.Scan]int) {
	if s, ok := n.(*sql.Scan); ok {
		counts[s]++
		return
	}
	visit := func(e sql.Expr) (sql.Expr, error) {
		if e != nil {
			sql.Walk(e, func(x sql.Expr) bool {
				if sq, ok := x.(*sql.Subquery); ok {
					countScans(sq.Plan, counts)
				}
				return true
			})
		}
		return e, nil
	}
	same := func(c sql.Node) (sql.Node, error) { return c, nil }
	switch x := n.(type) {
	case *sql.Join:
		_, _ = mapJoin(x, same, visit)
	case *sql.UnionAll:
	default:
		_, _ = mapExprs(n, input(n), visit)
	}
	for _, c := range n.Inputs() {
		countScans(c, counts)
	}
}

// runtimeFilters returns the runtime filters that the hash join n
// publishes, planning them (and the scans' side of them) at the first
// call.
func (b *builder) runtimeFilters(n *sql.Join) []*arrowexec.RuntimeFilter {
	if b.rt == nil {
		return nil
	}
	if fs, ok := b.rt.joins[n]; ok {
		return fs
	}
	b.rt.joins[n] = nil
	probe, probeKeys := b.filterableProbe(n)
	first := 0
	if i := keyFilterKey(n); i >= 0 {
		// A key filter publishes the set of its key i (keyFilter.Open).
		probe, probeKeys, first = n.Left, n.LeftKeys[:i+1], i
	}
	if probe == nil {
		return nil
	}
	for i := first; i < len(probeKeys); i++ {
		k := probeKeys[i]
		r, ok := unwrapNoopCast(k).(*sql.ColumnRef)
		if !ok || !filterKind(k.Type()) {
			continue
		}
		scan, col, ok := b.traceColumn(probe, r.Idx)
		if !ok || !filterKind(scan.Table.Columns[col].Type) || scan.WithKey {
			// A scan with row keys (the target of an UPDATE or
			// DELETE) numbers its segment rows by position: it must
			// return every row it selected.
			continue
		}
		f := &arrowexec.RuntimeFilter{Key: i, Label: fmt.Sprintf("%s.%s", scan.Table.Name, scan.Table.Columns[col].Name)}
		b.rt.joins[n] = []*arrowexec.RuntimeFilter{f}
		b.rt.keys[scan] = append(b.rt.keys[scan], RuntimeKey{Col: col, Filter: f})
		if b.an != nil {
			b.an.addRuntime(scan, f)
		}
		break // one filter per join
	}
	return b.rt.joins[n]
}

// scanRuntimeKeys returns the runtime filters planned for scan.
func (b *builder) scanRuntimeKeys(scan *sql.Scan) []RuntimeKey {
	if b.rt == nil {
		return nil
	}
	return b.rt.keys[scan]
}

// filterKind reports whether a runtime filter can hold keys of type t:
// the integer types a join's build publishes (INT, BIGINT, DATE).
func filterKind(t catalog.Type) bool {
	return t.Kind == catalog.KindInt || t.Kind == catalog.KindBigint || t.Kind == catalog.KindDate
}

// filterableProbe returns the probe input of the hash join n and its
// keys when the join never emits a probe row without a match (see the
// comment at the top), else nil.
func (b *builder) filterableProbe(n *sql.Join) (sql.Node, []sql.Expr) {
	if len(n.LeftKeys) == 0 || (n.Reduces && keyFilterKey(n) >= 0) {
		return nil, nil
	}
	swapped := b.buildsLeft(n)
	switch n.Type {
	case sql.JoinInner:
	case sql.JoinSemi, sql.JoinAnti:
		// A semi join probes with its left input (JoinSemi) or, swapped,
		// with its right one (JoinBuildSemi); an anti join only when
		// swapped (JoinBuildAnti emits build rows).
		if n.Type == sql.JoinAnti && !swapped {
			return nil, nil
		}
	default:
		return nil, nil
	}
	if swapped {
		return n.Right, n.RightKeys
	}
	return n.Left, n.LeftKeys
}

// traceColumn follows output column idx of n down to the scan that
// produces it, through the nodes that pass rows on with their values
// unchanged or not at all (see the comment at the top).
func (b *builder) traceColumn(n sql.Node, idx int) (*sql.Scan, int, bool) {
	for {
		switch x := n.(type) {
		case *sql.Scan:
			if b.rt.scans[x] != 1 || x.Table.System || idx < 0 || idx >= len(x.Cols) {
				return nil, 0, false
			}
			return x, x.Cols[idx], true
		case *sql.Filter:
			n = x.Input
		case *sql.Sort:
			n = x.Input
		case *sql.Project:
			if idx < 0 || idx >= len(x.Exprs) {
				return nil, 0, false
			}
			r, ok := unwrapNoopCast(x.Exprs[idx]).(*sql.ColumnRef)
			if !ok {
				return nil, 0, false
			}
			n, idx = x.Input, r.Idx
		case *sql.Join:
			nl := len(x.Left.Columns())
			left := idx < nl
			switch x.Type {
			case sql.JoinInner:
			case sql.JoinLeft, sql.JoinSemi, sql.JoinAnti, sql.JoinAntiNullAware, sql.JoinMark, sql.JoinMarkNullAware:
				if !left {
					return nil, 0, false
				}
			case sql.JoinRight:
				if left {
					return nil, 0, false
				}
			default:
				return nil, 0, false
			}
			if left {
				n = x.Left
			} else {
				n, idx = x.Right, idx-nl
			}
		default:
			return nil, 0, false
		}
	}
}
