package main

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/mantisdb/mantisdb/catalog"
)

// column is one column of a benchmark table.
type column struct {
	name string
	typ  catalog.Type
}

// tableSpec describes a benchmark table the same way to both engines: the
// DDL and the Arrow schema of its batches are derived from it, so the two
// engines always hold the same types.
type tableSpec struct {
	name    string
	columns []column
	// pk lists the primary-key column names; empty for none.
	pk []string
}

func dec(p, s int32) catalog.Type { return catalog.Decimal(p, s) }

func varchar(n int32) catalog.Type { return catalog.Type{Kind: catalog.KindVarchar, Length: n} }

// money is the TPC-H type of prices, quantities and balances.
var money = dec(15, 2)

// tpchTables are the eight TPC-H tables with the types of the TPC-H
// specification (clause 1.4): identifiers BIGINT (INT for the small
// nation/region keys), money DECIMAL(15,2), dates DATE, text VARCHAR(n).
var tpchTables = []tableSpec{
	{name: "nation", pk: []string{"n_nationkey"}, columns: []column{
		{"n_nationkey", catalog.Int}, {"n_name", varchar(25)}, {"n_regionkey", catalog.Int}, {"n_comment", varchar(152)},
	}},
	{name: "region", pk: []string{"r_regionkey"}, columns: []column{
		{"r_regionkey", catalog.Int}, {"r_name", varchar(25)}, {"r_comment", varchar(152)},
	}},
	{name: "part", pk: []string{"p_partkey"}, columns: []column{
		{"p_partkey", catalog.Bigint}, {"p_name", varchar(55)}, {"p_mfgr", varchar(25)}, {"p_brand", varchar(10)},
		{"p_type", varchar(25)}, {"p_size", catalog.Int}, {"p_container", varchar(10)}, {"p_retailprice", money},
		{"p_comment", varchar(23)},
	}},
	{name: "partsupp", pk: []string{"ps_partkey", "ps_suppkey"}, columns: []column{
		{"ps_partkey", catalog.Bigint}, {"ps_suppkey", catalog.Bigint}, {"ps_availqty", catalog.Int},
		{"ps_supplycost", money}, {"ps_comment", varchar(199)},
	}},
	{name: "supplier", pk: []string{"s_suppkey"}, columns: []column{
		{"s_suppkey", catalog.Bigint}, {"s_name", varchar(25)}, {"s_address", varchar(40)}, {"s_nationkey", catalog.Int},
		{"s_phone", varchar(15)}, {"s_acctbal", money}, {"s_comment", varchar(101)},
	}},
	{name: "customer", pk: []string{"c_custkey"}, columns: []column{
		{"c_custkey", catalog.Bigint}, {"c_name", varchar(25)}, {"c_address", varchar(40)}, {"c_nationkey", catalog.Int},
		{"c_phone", varchar(15)}, {"c_acctbal", money}, {"c_mktsegment", varchar(10)}, {"c_comment", varchar(117)},
	}},
	{name: "orders", pk: []string{"o_orderkey"}, columns: []column{
		{"o_orderkey", catalog.Bigint}, {"o_custkey", catalog.Bigint}, {"o_orderstatus", varchar(1)},
		{"o_totalprice", money}, {"o_orderdate", catalog.Date}, {"o_orderpriority", varchar(15)},
		{"o_clerk", varchar(15)}, {"o_shippriority", catalog.Int}, {"o_comment", varchar(79)},
	}},
	{name: "lineitem", pk: []string{"l_orderkey", "l_linenumber"}, columns: []column{
		{"l_orderkey", catalog.Bigint}, {"l_partkey", catalog.Bigint}, {"l_suppkey", catalog.Bigint},
		{"l_linenumber", catalog.Int}, {"l_quantity", money}, {"l_extendedprice", money}, {"l_discount", money},
		{"l_tax", money}, {"l_returnflag", varchar(1)}, {"l_linestatus", varchar(1)}, {"l_shipdate", catalog.Date},
		{"l_commitdate", catalog.Date}, {"l_receiptdate", catalog.Date}, {"l_shipinstruct", varchar(25)},
		{"l_shipmode", varchar(10)}, {"l_comment", varchar(44)},
	}},
}

// tpchTable returns the spec of the named TPC-H table.
func tpchTable(name string) *tableSpec {
	for i := range tpchTables {
		if tpchTables[i].name == name {
			return &tpchTables[i]
		}
	}
	return nil
}

// ddl returns the CREATE TABLE statement of t. Both engines accept the same
// text: standard types, NOT NULL on every column, a table-level PRIMARY KEY.
func (t *tableSpec) ddl() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "CREATE TABLE %s (", t.name)
	for i, c := range t.columns {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "%s %s NOT NULL", c.name, c.typ)
	}
	if len(t.pk) > 0 {
		fmt.Fprintf(&sb, ", PRIMARY KEY (%s)", strings.Join(t.pk, ", "))
	}
	sb.WriteString(")")
	return sb.String()
}

// schema returns the Arrow schema of t's batches, built from the fixed
// catalog mapping so that MantisDB ingests them without casts.
func (t *tableSpec) schema() *arrow.Schema {
	fields := make([]arrow.Field, len(t.columns))
	for i, c := range t.columns {
		fields[i] = arrow.Field{Name: c.name, Type: c.typ.ArrowType()}
	}
	return arrow.NewSchema(fields, nil)
}
