package main

import "github.com/mantisdb/mantisdb/internal/tpch"

// tpchQueries are the 22 TPC-H queries (internal/tpch documents their text).
// tpchQueries[i] is query i+1.
var tpchQueries = tpch.Queries
