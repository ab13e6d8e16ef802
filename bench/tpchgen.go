package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/pingcap/go-tpc/tpch/dbgen"
)

// batchSink receives each generated batch. The batch is released by the
// generator after the sink returns; a sink that keeps it must Retain it.
type batchSink func(table string, rec arrow.RecordBatch) error

// dbgen keeps its state in package variables and its distributions cannot
// be initialised twice, so one process generates at one dbgen scale only.
// dbgen's random streams are seeded only by InitDbGen and run on across
// generations, so only the first generation of a process yields the
// official data; dbgenRuns counts the generations.
var (
	dbgenMu    sync.Mutex
	dbgenScale int64
	dbgenRuns  int
)

// errEnough stops dbgen once a table has the rows a fractional scale asks for.
var errEnough = errors.New("enough rows")

// tpchRowCount is the TPC-H row count of each table at scale 1 (lineitem
// varies around 6M and is generated with its orders).
var tpchRowCount = map[string]int64{
	"part": 200_000, "supplier": 10_000, "customer": 150_000, "orders": 1_500_000,
	"nation": 25, "region": 5,
}

// generateTPCH generates the TPC-H tables at scale factor sf into Arrow
// batches of about batchRows rows, handing each to sink in the order nation,
// region, part, partsupp, supplier, customer, orders, lineitem (orders and
// lineitem interleave). Integer scale factors produce the official data;
// a fraction below 1 takes the first sf share of every scale-1 table and
// folds the foreign keys into the kept rows (see keyFold), which keeps the
// generator's value distributions and the joins of the queries, but is not
// the official data of any scale (the tiny scales exist to test, not to
// publish).
func generateTPCH(sf float64, batchRows int, mem memory.Allocator, sink batchSink) error {
	if sf <= 0 {
		return fmt.Errorf("scale factor %v must be positive", sf)
	}
	scale := int64(math.Ceil(sf))
	if sf > 1 && float64(scale) != sf {
		return fmt.Errorf("scale factor %v: above 1 only whole numbers are supported", sf)
	}
	limit := func(table string) int64 {
		if sf >= 1 || table == "nation" || table == "region" {
			return math.MaxInt64
		}
		return max(int64(float64(tpchRowCount[table])*sf), 1)
	}
	if sf >= 1 {
		dbgenMu.Lock()
		runs := dbgenRuns
		dbgenMu.Unlock()
		if runs > 0 {
			return fmt.Errorf("scale factor %v: this process already ran dbgen, so its data would not be the official data; generate in a fresh process", sf)
		}
	}
	var fold *keyFold
	if sf < 1 {
		fold = &keyFold{parts: limit("part"), supps: limit("supplier"), custs: limit("customer"), supps1: 10_000}
		if fold.supps < suppsPerPart {
			return fmt.Errorf("scale factor %v is too small: fewer than %d suppliers", sf, suppsPerPart)
		}
	}
	return runDbgen(scale, nil, batchRows, mem, limit, fold, sink)
}

// suppsPerPart is the number of partsupp rows of each part.
const suppsPerPart = 4

// keyFold maps the foreign keys of scale-1 rows into the first share of
// each table that a fractional scale keeps, the way dbgen would have drawn
// them at that size: part and customer keys modulo the kept rows (customer
// keys keep their residue modulo 3, so a third of the customers still have
// no orders), supplier keys through dbgen's part-supplier bridge with the
// kept supplier count (without its (p-1)/n term), so that every lineitem's
// (part, supplier) pair is a partsupp row and a part's suppliers stay
// distinct.
type keyFold struct {
	parts, supps, custs int64
	supps1              int64 // suppliers at the generated scale
}

func (f *keyFold) part(p int64) int64 { return (p-1)%f.parts + 1 }
func (f *keyFold) cust(c int64) int64 { return (c-1)%f.custs + 1 }

// supp maps supplier s of (unfolded) part p.
func (f *keyFold) supp(p, s int64) int64 {
	i := int64(0)
	for ; i < suppsPerPart; i++ {
		if bridge(p, i, f.supps1) == s {
			break
		}
	}
	// dbgen's bridge with n kept suppliers would repeat a supplier for
	// parts p with (p-1)/n a multiple of n/4; a stride of n/4 keeps the
	// four apart for any n >= 4.
	return (f.part(p)+(i%suppsPerPart)*(f.supps/suppsPerPart))%f.supps + 1
}

// bridge is dbgen's PART_SUPP_BRIDGE: the i-th supplier of part p among n.
func bridge(p, i, n int64) int64 { return (p+i*(n/suppsPerPart+(p-1)/n))%n + 1 }

// generateLineitems generates the first n lineitem rows (at the scale this
// process already uses, else scale 1) in batches of batchRows.
func generateLineitems(n int64, batchRows int, mem memory.Allocator, sink batchSink) error {
	dbgenMu.Lock()
	scale := max(dbgenScale, 1)
	dbgenMu.Unlock()
	left := n
	limit := func(table string) int64 {
		if table == "orders" {
			return n + 1 // an order has 1 to 7 lines: enough orders for n lines
		}
		return math.MaxInt64
	}
	return runDbgen(scale, map[string]bool{"lineitem": true}, batchRows, mem, limit, nil, func(table string, rec arrow.RecordBatch) error {
		if table != "lineitem" {
			return nil
		}
		if rec.NumRows() >= left {
			part := rec.NewSlice(0, left)
			defer part.Release()
			left = 0
			if err := sink(table, part); err != nil {
				return err
			}
			return errEnough
		}
		left -= rec.NumRows()
		return sink(table, rec)
	})
}

// runDbgen runs dbgen at scale for the tables in only (nil: all), keeping
// at most limit(table) rows of each (orders limit lineitem), folding
// foreign keys with fold unless it is nil.
func runDbgen(scale int64, only map[string]bool, batchRows int, mem memory.Allocator, limit func(string) int64, fold *keyFold, sink batchSink) error {
	dbgenMu.Lock()
	defer dbgenMu.Unlock()
	if dbgenScale == 0 {
		quiet(func() { dbgen.InitDbGen(scale) })
		dbgenScale = scale
	} else if dbgenScale != scale {
		return fmt.Errorf("this process already generated TPC-H at scale %d, cannot switch to %d", dbgenScale, scale)
	}
	dbgenRuns++
	newLoader := func(table string, counted bool, fill func(*genLoader, any)) *genLoader {
		spec := tpchTable(table)
		l := &genLoader{table: table, batchRows: batchRows, sink: sink, fill: fill, limit: math.MaxInt64, fold: fold}
		if only == nil || only[table] {
			l.b = array.NewRecordBuilder(mem, spec.schema())
		}
		if counted {
			l.limit = limit(table)
		}
		return l
	}
	type step struct {
		gen     dbgen.Table
		loaders map[dbgen.Table]*genLoader
	}
	part, psupp := newLoader("part", true, fillPart), newLoader("partsupp", false, fillPartsupp)
	orders, line := newLoader("orders", true, fillOrder), newLoader("lineitem", false, fillLineitem)
	steps := []step{
		{dbgen.TNation, map[dbgen.Table]*genLoader{dbgen.TNation: newLoader("nation", true, fillNation)}},
		{dbgen.TRegion, map[dbgen.Table]*genLoader{dbgen.TRegion: newLoader("region", true, fillRegion)}},
		{dbgen.TPartPsupp, map[dbgen.Table]*genLoader{dbgen.TPart: part, dbgen.TPsupp: psupp}},
		{dbgen.TSupp, map[dbgen.Table]*genLoader{dbgen.TSupp: newLoader("supplier", true, fillSupp)}},
		{dbgen.TCust, map[dbgen.Table]*genLoader{dbgen.TCust: newLoader("customer", true, fillCust)}},
		{dbgen.TOrderLine, map[dbgen.Table]*genLoader{dbgen.TOrder: orders, dbgen.TLine: line}},
	}
	for _, s := range steps {
		loaders := make(map[dbgen.Table]dbgen.Loader, len(s.loaders))
		wanted := false
		for t, l := range s.loaders {
			loaders[t] = l
			wanted = wanted || l.b != nil
		}
		if !wanted {
			continue
		}
		var err error
		quiet(func() { err = dbgen.DbGen(loaders, []dbgen.Table{s.gen}) })
		for _, l := range s.loaders {
			if l.b != nil {
				l.b.Release()
			}
			if l.err == errEnough {
				l.stopped, l.err = true, nil
			}
			if l.err != nil {
				return fmt.Errorf("cannot load generated %s: %w", l.table, l.err)
			}
			if l.stopped {
				err = nil
			}
		}
		if err != nil {
			return fmt.Errorf("dbgen: %w", err)
		}
	}
	return nil
}

// quiet runs f with stdout redirected to the null device: dbgen prints its
// progress there, and stdout belongs to the harness's report.
func quiet(f func()) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		f()
		return
	}
	saved := os.Stdout
	os.Stdout = null
	defer func() { os.Stdout = saved; null.Close() }()
	f()
}

// genLoader is a dbgen.Loader that appends generated rows to an Arrow
// record builder and hands full batches to a sink.
type genLoader struct {
	table     string
	b         *array.RecordBuilder
	fill      func(*genLoader, any)
	batchRows int
	sink      batchSink
	rows      int // rows in the builder
	n, limit  int64
	stopped   bool
	err       error
	fold      *keyFold // nil: keys as generated
}

func (l *genLoader) partKey(p int64) int64 {
	if l.fold == nil {
		return p
	}
	return l.fold.part(p)
}

func (l *genLoader) suppKey(p, s int64) int64 {
	if l.fold == nil {
		return s
	}
	return l.fold.supp(p, s)
}

func (l *genLoader) custKey(c int64) int64 {
	if l.fold == nil {
		return c
	}
	return l.fold.cust(c)
}

var _ dbgen.Loader = (*genLoader)(nil)

// Load appends one generated item (one row, or one order with its lines).
func (l *genLoader) Load(item any) error {
	if l.n >= l.limit {
		l.stopped = true
		return errEnough
	}
	l.n++
	if l.b == nil {
		return nil // a table generated only for its child table's sake
	}
	l.fill(l, item)
	if l.rows >= l.batchRows {
		return l.emit()
	}
	return nil
}

// Flush hands the last partial batch to the sink.
func (l *genLoader) Flush() error {
	if l.rows > 0 && l.err == nil {
		return l.emit()
	}
	return nil
}

func (l *genLoader) emit() error {
	rec := l.b.NewRecordBatch()
	l.rows = 0
	defer rec.Release()
	if err := l.sink(l.table, rec); err != nil {
		l.err = err
		return err
	}
	return nil
}

func (l *genLoader) i64(i int, v int64)  { l.b.Field(i).(*array.Int64Builder).Append(v) }
func (l *genLoader) i32(i int, v int64)  { l.b.Field(i).(*array.Int32Builder).Append(int32(v)) }
func (l *genLoader) str(i int, v string) { l.b.Field(i).(*array.StringBuilder).Append(v) }
func (l *genLoader) chr(i int, v byte)   { l.b.Field(i).(*array.StringBuilder).Append(string(rune(v))) }
func (l *genLoader) cents(i int, v int64) {
	l.b.Field(i).(*array.Decimal128Builder).Append(decimal128.FromI64(v))
}
func (l *genLoader) date(i int, v string) { l.b.Field(i).(*array.Date32Builder).Append(parseDate(v)) }

var (
	dateMu    sync.Mutex
	dateCache = map[string]arrow.Date32{}
)

// parseDate converts a dbgen date (YYYY-MM-DD) to days since the epoch. The
// generator produces a few thousand distinct dates, so they are cached.
func parseDate(s string) arrow.Date32 {
	dateMu.Lock()
	defer dateMu.Unlock()
	if d, ok := dateCache[s]; ok {
		return d
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		// dbgen only produces valid dates; keep going with the epoch rather
		// than abort a long run, the result check will show it.
		t = time.Unix(0, 0)
	}
	d := arrow.Date32FromTime(t)
	dateCache[s] = d
	return d
}

func fillNation(l *genLoader, item any) {
	n := item.(*dbgen.Nation)
	l.i32(0, int64(n.Code))
	l.str(1, n.Text)
	l.i32(2, int64(n.Join))
	l.str(3, n.Comment)
	l.rows++
}

func fillRegion(l *genLoader, item any) {
	r := item.(*dbgen.Region)
	l.i32(0, int64(r.Code))
	l.str(1, r.Text)
	l.str(2, r.Comment)
	l.rows++
}

func fillPart(l *genLoader, item any) {
	p := item.(*dbgen.Part)
	l.i64(0, int64(p.PartKey))
	l.str(1, p.Name)
	l.str(2, p.Mfgr)
	l.str(3, p.Brand)
	l.str(4, p.Type)
	l.i32(5, int64(p.Size))
	l.str(6, p.Container)
	l.cents(7, int64(p.RetailPrice))
	l.str(8, p.Comment)
	l.rows++
}

func fillPartsupp(l *genLoader, item any) {
	p := item.(*dbgen.Part)
	for _, s := range p.S {
		l.i64(0, int64(s.PartKey))
		l.i64(1, l.suppKey(int64(s.PartKey), int64(s.SuppKey)))
		l.i32(2, int64(s.Qty))
		l.cents(3, int64(s.SCost))
		l.str(4, s.Comment)
		l.rows++
	}
}

func fillSupp(l *genLoader, item any) {
	s := item.(*dbgen.Supp)
	l.i64(0, int64(s.SuppKey))
	l.str(1, s.Name)
	l.str(2, s.Address)
	l.i32(3, int64(s.NationCode))
	l.str(4, s.Phone)
	l.cents(5, int64(s.Acctbal))
	l.str(6, s.Comment)
	l.rows++
}

func fillCust(l *genLoader, item any) {
	c := item.(*dbgen.Cust)
	l.i64(0, int64(c.CustKey))
	l.str(1, c.Name)
	l.str(2, c.Address)
	l.i32(3, int64(c.NationCode))
	l.str(4, c.Phone)
	l.cents(5, int64(c.Acctbal))
	l.str(6, c.MktSegment)
	l.str(7, c.Comment)
	l.rows++
}

func fillOrder(l *genLoader, item any) {
	o := item.(*dbgen.Order)
	l.i64(0, int64(o.OKey))
	l.i64(1, l.custKey(int64(o.CustKey)))
	l.chr(2, o.Status)
	l.cents(3, int64(o.TotalPrice))
	l.date(4, o.Date)
	l.str(5, o.OrderPriority)
	l.str(6, o.Clerk)
	l.i32(7, o.ShipPriority)
	l.str(8, o.Comment)
	l.rows++
}

func fillLineitem(l *genLoader, item any) {
	o := item.(*dbgen.Order)
	for i := range o.Lines {
		li := &o.Lines[i]
		l.i64(0, int64(li.OKey))
		l.i64(1, l.partKey(int64(li.PartKey)))
		l.i64(2, l.suppKey(int64(li.PartKey), int64(li.SuppKey)))
		l.i32(3, int64(li.LCnt))
		l.cents(4, int64(li.Quantity)*100) // dbgen's quantity is a whole number
		l.cents(5, int64(li.EPrice))
		l.cents(6, int64(li.Discount))
		l.cents(7, int64(li.Tax))
		l.chr(8, li.RFlag)
		l.chr(9, li.LStatus)
		l.date(10, li.SDate)
		l.date(11, li.CDate)
		l.date(12, li.RDate)
		l.str(13, li.ShipInstruct)
		l.str(14, li.ShipMode)
		l.str(15, li.Comment)
		l.rows++
	}
}
