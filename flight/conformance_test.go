package flight

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
)

// TestDMLAndDDLOnQueryPath checks rule 8: DDL and DML sent as queries
// (CommandStatementQuery and prepared queries, as ADBC's DBAPI does) run,
// and their streams are empty with the announced (empty) schema.
func TestDMLAndDDLOnQueryPath(t *testing.T) {
	e := startServer(t, nil, nil)
	for _, sql := range []string{
		"CREATE TABLE q (id BIGINT PRIMARY KEY, v VARCHAR)",
		"INSERT INTO q VALUES (1, 'a'), (2, 'b')",
		"UPDATE q SET v = 'c' WHERE id = 2",
	} {
		sch, recs := e.query(t, sql) // checks the stream's schema against FlightInfo's
		if sch.NumFields() != 0 || len(rowStrings(recs)) != 0 {
			t.Errorf("%s: schema %v, rows %v", sql, sch, rowStrings(recs))
		}
		releaseAll(recs)
	}
	// A prepared INSERT run as a query, with a parameter.
	st := prepare(t, e, "INSERT INTO q VALUES (?, 'd')")
	rec := paramBatch(t, e.client.Alloc, []arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, []any{int64(3)})
	st.SetParameters(rec)
	rec.Release()
	if got := queryPrepared(t, e, st); len(got) != 0 {
		t.Errorf("prepared INSERT as a query returned %v", got)
	}
	_, recs := e.query(t, "SELECT id, v FROM q ORDER BY id")
	defer releaseAll(recs)
	if got, want := rowStrings(recs), []string{"1|a", "2|c", "3|d"}; !equalStrings(got, want) {
		t.Errorf("rows %v, want %v", got, want)
	}
}

// TestLargeDoPutMessage checks the second half of rule 6: the server takes
// an ingest message larger than 64 MiB.
func TestLargeDoPutMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("sends a 66 MiB message")
	}
	e := startServer(t, nil, nil)
	e.exec(t, "CREATE TABLE big (id BIGINT NOT NULL, s VARCHAR)")
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	const rows, width = 600, 110 << 10 // 66 MiB in one record batch
	b := array.NewRecordBuilder(e.client.Alloc, sch)
	val := strings.Repeat("x", width)
	for i := 0; i < rows; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.StringBuilder).Append(val)
	}
	rec := b.NewRecordBatch()
	b.Release()
	rdr, err := array.NewRecordReader(sch, []arrow.RecordBatch{rec})
	rec.Release()
	if err != nil {
		t.Fatal(err)
	}
	n, err := e.client.ExecuteIngest(e.ctx, rdr, ingestOpts("big",
		flightsql.TableDefinitionOptionsTableNotExistOptionFail, flightsql.TableDefinitionOptionsTableExistsOptionAppend))
	rdr.Release()
	if err != nil || n != rows {
		t.Fatalf("ingest of a 66 MiB batch: %d, %v", n, err)
	}
	_, recs := e.query(t, "SELECT COUNT(*) FROM big")
	defer releaseAll(recs)
	if got := rowStrings(recs); got[0] != "600" {
		t.Errorf("COUNT(*) = %v", got)
	}
}
