package mantisdb_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/segments"
)

// TestModelRandomSchemas is the storage model test of the segments issue:
// for each seed a table of a random schema (a BIGINT, VARCHAR or composite
// primary key, or none; nullable value columns of every kind) goes through
// a random sequence of SQL inserts, bulk ingests (batch entries), upserts,
// updates, deletes, compactions with merges, and reopens; after every step
// the whole table, and a point lookup by key, must equal a plain in-memory
// model. The rows therefore move through every tier: row entries, batch
// entries and segments, with deletions in delete bitmaps.
func TestModelRandomSchemas(t *testing.T) {
	for seed := uint64(1); seed <= 12; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			m := newModelRun(t, seed)
			defer m.close()
			for step := 0; step < 70; step++ {
				what := m.step()
				m.check(what)
				if t.Failed() {
					t.Fatalf("seed %d: stopped after step %d (%s); schema: %s", seed, step, what, m.ddl)
				}
			}
		})
	}
}

// modelKind is the SQL type of a model column.
type modelKind int

const (
	mBigint modelKind = iota
	mInt
	mDouble
	mDecimal
	mVarchar
	mDate
	mBool
)

var modelTypes = [...]string{"BIGINT", "INT", "DOUBLE", "DECIMAL(12,2)", "VARCHAR", "DATE", "BOOLEAN"}

// modelVal is one cell: an integer (BIGINT, INT, DECIMAL in cents, DATE in
// days, BOOLEAN 0/1), a float or a string.
type modelVal struct {
	null bool
	i    int64
	f    float64
	s    string
}

type modelRun struct {
	t    *testing.T
	rng  *rand.Rand
	dir  string
	db   *mantisdb.DB
	ddl  string
	cols []modelKind // key columns first
	// nkey is the number of primary-key columns; 0 means no primary key,
	// and then column 0 is a unique BIGINT id the model manages.
	nkey   int
	rows   map[string][]modelVal // by the rendering of the key columns
	nextID int64
}

func modelOptions() *mantisdb.Options {
	return &mantisdb.Options{CompactRows: -1, CompactInterval: -1, MergeSegments: 2, BulkMinRows: 8,
		Segment: &segments.WriterOptions{RowGroupSize: 16}}
}

func newModelRun(t *testing.T, seed uint64) *modelRun {
	m := &modelRun{t: t, rng: rand.New(rand.NewPCG(seed, 0x5eed)), dir: t.TempDir(), rows: map[string][]modelVal{}}
	var defs, keys []string
	switch m.rng.IntN(4) {
	case 0:
		m.cols, m.nkey = []modelKind{mBigint}, 1
	case 1:
		m.cols, m.nkey = []modelKind{mVarchar}, 1
	case 2:
		m.cols, m.nkey = []modelKind{mInt, mVarchar}, 2
	default:
		m.cols = []modelKind{mBigint}
	}
	nk := len(m.cols)
	for i := range nk {
		defs = append(defs, fmt.Sprintf("k%d %s NOT NULL", i, modelTypes[m.cols[i]]))
		keys = append(keys, fmt.Sprintf("k%d", i))
	}
	for i := range 1 + m.rng.IntN(4) {
		k := modelKind(m.rng.IntN(len(modelTypes)))
		m.cols = append(m.cols, k)
		defs = append(defs, fmt.Sprintf("c%d %s", i, modelTypes[k]))
	}
	if m.nkey > 0 {
		defs = append(defs, "PRIMARY KEY ("+strings.Join(keys, ", ")+")")
	}
	m.ddl = "CREATE TABLE t (" + strings.Join(defs, ", ") + ")"
	m.open()
	exec(t, m.db, m.ddl)
	return m
}

func (m *modelRun) open() {
	db, err := mantisdb.Open(m.dir, modelOptions())
	if err != nil {
		m.t.Fatal(err)
	}
	m.db = db
}

func (m *modelRun) close() {
	if m.db != nil {
		if err := m.db.Close(); err != nil {
			m.t.Error(err)
		}
		m.db = nil
	}
}

// keyCols is the number of leading columns that identify a row.
func (m *modelRun) keyCols() int { return max(m.nkey, 1) }

// value draws a cell of kind k; key cells are never NULL and come from a
// small domain, so inserts collide with taken keys now and then.
func (m *modelRun) value(k modelKind, key bool) modelVal {
	if !key && m.rng.IntN(5) == 0 {
		return modelVal{null: true}
	}
	r := m.rng
	switch k {
	case mBigint:
		if key {
			return modelVal{i: r.Int64N(1_000_000) - 1000}
		}
		return modelVal{i: r.Int64N(1<<40) - 1<<39}
	case mInt:
		if key {
			return modelVal{i: r.Int64N(50)}
		}
		return modelVal{i: r.Int64N(1<<31) - 1<<30}
	case mDouble:
		return modelVal{f: float64(r.IntN(20001)-10000) / 4}
	case mDecimal:
		return modelVal{i: r.Int64N(2_000_000) - 1_000_000}
	case mVarchar:
		if key {
			return modelVal{s: fmt.Sprintf("k%06d", r.IntN(1_000_000))}
		}
		return modelVal{s: []string{"", "a", "héllo", "x y", "long-" + strconv.Itoa(r.IntN(1000))}[r.IntN(5)]}
	case mDate:
		return modelVal{i: 10000 + r.Int64N(20000)}
	case mBool:
		return modelVal{i: r.Int64N(2)}
	}
	panic("unknown kind")
}

// newRow draws a row whose key is not taken (by the model or by skip).
func (m *modelRun) newRow(skip map[string]bool) []modelVal {
	for {
		row := make([]modelVal, len(m.cols))
		if m.nkey == 0 {
			m.nextID++
			row[0] = modelVal{i: m.nextID}
		}
		for i, k := range m.cols {
			if m.nkey > 0 || i > 0 {
				row[i] = m.value(k, i < m.nkey)
			}
		}
		key := m.key(row)
		if _, taken := m.rows[key]; !taken && !skip[key] {
			return row
		}
	}
}

func (m *modelRun) key(row []modelVal) string {
	var parts []string
	for i := range m.keyCols() {
		parts = append(parts, renderCell(m.cols[i], row[i]))
	}
	return strings.Join(parts, "|")
}

// renderCell is a cell as the query helper renders it.
func renderCell(k modelKind, v modelVal) string {
	if v.null {
		return "NULL"
	}
	switch k {
	case mDouble:
		return strconv.FormatFloat(v.f, 'g', -1, 64)
	case mDecimal:
		return decimal128.FromI64(v.i).ToString(2)
	case mVarchar:
		return v.s
	case mDate:
		return arrow.Date32(v.i).FormattedString()
	case mBool:
		return strconv.FormatBool(v.i == 1)
	}
	return strconv.FormatInt(v.i, 10)
}

// literal is a cell as SQL text.
func literal(k modelKind, v modelVal) string {
	switch {
	case v.null:
		return "NULL"
	case k == mVarchar:
		return "'" + v.s + "'"
	case k == mDate:
		return "DATE '" + renderCell(k, v) + "'"
	}
	return renderCell(k, v)
}

// where selects the row by its key columns.
func (m *modelRun) where(row []modelVal) string {
	var conds []string
	for i := range m.keyCols() {
		conds = append(conds, fmt.Sprintf("%s = %s", m.colName(i), literal(m.cols[i], row[i])))
	}
	return strings.Join(conds, " AND ")
}

func (m *modelRun) colName(i int) string {
	if i < len(m.cols)-m.valueCols() {
		return fmt.Sprint("k", i)
	}
	return fmt.Sprint("c", i-(len(m.cols)-m.valueCols()))
}

func (m *modelRun) valueCols() int {
	n := len(m.cols) - m.nkey
	if m.nkey == 0 {
		n--
	}
	return n
}

// anyRow returns a random row of the model, nil when it is empty.
func (m *modelRun) anyRow() []modelVal {
	if len(m.rows) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m.rows))
	for k := range m.rows {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return m.rows[keys[m.rng.IntN(len(keys))]]
}

// step runs one random operation on the database and the model and says
// what it did.
func (m *modelRun) step() string {
	ctx := context.Background()
	switch op := m.rng.IntN(20); {
	case op < 4: // SQL insert of 1–3 rows
		var lits []string
		added := map[string]bool{}
		var rows [][]modelVal
		for range 1 + m.rng.IntN(3) {
			row := m.newRow(added)
			added[m.key(row)] = true
			rows = append(rows, row)
			var vals []string
			for i, k := range m.cols {
				vals = append(vals, literal(k, row[i]))
			}
			lits = append(lits, "("+strings.Join(vals, ", ")+")")
		}
		exec(m.t, m.db, "INSERT INTO t VALUES "+strings.Join(lits, ", "))
		for _, r := range rows {
			m.rows[m.key(r)] = r
		}
		return "insert"
	case op < 8: // bulk ingest: a batch entry from 8 rows on
		added := map[string]bool{}
		var rows [][]modelVal
		for range 1 + m.rng.IntN(40) {
			row := m.newRow(added)
			added[m.key(row)] = true
			rows = append(rows, row)
		}
		m.ingest(rows, mantisdb.IngestOptions{})
		return fmt.Sprintf("ingest %d rows", len(rows))
	case op < 9 && m.nkey > 0: // upsert: half taken keys, half new
		var rows [][]modelVal
		added := map[string]bool{}
		for range 1 + m.rng.IntN(10) {
			row := m.newRow(added)
			if old := m.anyRow(); old != nil && m.rng.IntN(2) == 0 && !added[m.key(old)] {
				copy(row[:m.nkey], old[:m.nkey])
			}
			added[m.key(row)] = true
			rows = append(rows, row)
		}
		replace := m.rng.IntN(2) == 0
		mode := mantisdb.IngestOptions{OnConflict: mantisdb.ConflictIgnore}
		if replace {
			mode.OnConflict = mantisdb.ConflictReplace
		}
		m.ingest(rows, mode)
		return fmt.Sprintf("upsert %d rows (replace %v)", len(rows), replace)
	case op < 13: // update a value column of one row
		row := m.anyRow()
		if row == nil || m.valueCols() == 0 {
			return "no update"
		}
		c := len(m.cols) - 1 - m.rng.IntN(m.valueCols())
		v := m.value(m.cols[c], false)
		exec(m.t, m.db, fmt.Sprintf("UPDATE t SET %s = %s WHERE %s", m.colName(c), literal(m.cols[c], v), m.where(row)))
		upd := slices.Clone(row)
		upd[c] = v
		m.rows[m.key(row)] = upd
		return "update " + m.colName(c)
	case op < 16: // delete one row
		row := m.anyRow()
		if row == nil {
			return "no delete"
		}
		exec(m.t, m.db, "DELETE FROM t WHERE "+m.where(row))
		delete(m.rows, m.key(row))
		return "delete"
	case op < 18:
		if _, err := m.db.Compact(ctx, "t"); err != nil {
			m.t.Fatalf("compact: %v", err)
		}
		return "compact"
	default:
		m.close()
		m.open()
		return "reopen"
	}
}

// ingest writes rows with DB.IngestWith and applies them to the model
// with the same conflict rule.
func (m *modelRun) ingest(rows [][]modelVal, opts mantisdb.IngestOptions) {
	tab, ok := m.db.Table("t")
	if !ok {
		m.t.Fatal("table t is gone")
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, tab.Schema())
	defer b.Release()
	for _, row := range rows {
		for i, k := range m.cols {
			appendModel(b.Field(i), k, row[i])
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	rdr, err := array.NewRecordReader(rec.Schema(), []arrow.RecordBatch{rec})
	if err != nil {
		m.t.Fatal(err)
	}
	defer rdr.Release()
	if _, err := m.db.IngestWith(context.Background(), "t", rdr, opts); err != nil {
		m.t.Fatalf("ingest: %v", err)
	}
	for _, r := range rows {
		key := m.key(r)
		if _, taken := m.rows[key]; taken && opts.OnConflict == mantisdb.ConflictIgnore {
			continue
		}
		m.rows[key] = r
	}
}

func appendModel(b array.Builder, k modelKind, v modelVal) {
	if v.null {
		b.AppendNull()
		return
	}
	switch b := b.(type) {
	case *array.Int64Builder:
		b.Append(v.i)
	case *array.Int32Builder:
		b.Append(int32(v.i))
	case *array.Float64Builder:
		b.Append(v.f)
	case *array.Decimal128Builder:
		b.Append(decimal128.FromI64(v.i))
	case *array.StringBuilder:
		b.Append(v.s)
	case *array.Date32Builder:
		b.Append(arrow.Date32(v.i))
	case *array.BooleanBuilder:
		b.Append(v.i == 1)
	default:
		panic(fmt.Sprintf("model: no builder for %s (%T)", modelTypes[k], b))
	}
}

// check compares the table, and a point lookup of a random row, with the
// model.
func (m *modelRun) check(what string) {
	t := m.t
	t.Helper()
	var want []string
	for _, row := range m.rows {
		want = append(want, m.rendered(row))
	}
	slices.Sort(want)
	var got []string
	for _, r := range query(t, m.db, "SELECT * FROM t") {
		got = append(got, strings.Join(r, "|"))
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("after %s: table has %d rows, model %d\n got: %s\nwant: %s", what, len(got), len(want),
			diffRows(got, want), diffRows(want, got))
	}
	if row := m.anyRow(); row != nil {
		got := query(t, m.db, "SELECT * FROM t WHERE "+m.where(row))
		if len(got) != 1 || strings.Join(got[0], "|") != m.rendered(row) {
			t.Errorf("after %s: lookup %s = %v, want %s", what, m.where(row), got, m.rendered(row))
		}
	}
}

func (m *modelRun) rendered(row []modelVal) string {
	cells := make([]string, len(row))
	for i, k := range m.cols {
		cells[i] = renderCell(k, row[i])
	}
	return strings.Join(cells, "|")
}

// diffRows lists the rows of a that b lacks (at most five).
func diffRows(a, b []string) string {
	var out []string
	for _, r := range a {
		if _, found := slices.BinarySearch(b, r); !found {
			out = append(out, r)
			if len(out) == 5 {
				break
			}
		}
	}
	return strings.Join(out, " ; ")
}
