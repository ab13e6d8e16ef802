package lockmgr

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"strconv"
)

// Level is the level of a Resource in the lock hierarchy
// database > table > row.
type Level uint8

const (
	// LevelDatabase is the whole database: one resource.
	LevelDatabase Level = iota
	// LevelTable is one table, named by its catalog id.
	LevelTable
	// LevelRow is one row of a table, named by its encoded primary key.
	LevelRow
)

// String returns "database", "table" or "row".
func (l Level) String() string {
	switch l {
	case LevelDatabase:
		return "database"
	case LevelTable:
		return "table"
	case LevelRow:
		return "row"
	}
	return "Level(" + strconv.Itoa(int(l)) + ")"
}

// Resource names a lockable thing: the database, a table or a row. Build one
// with Database, Table or Row. A Resource is a small value; the lock manager
// does not keep the Key slice passed to it (it copies the bytes it needs),
// so the caller may reuse the slice once the call returns.
type Resource struct {
	// Level is the level in the hierarchy.
	Level Level
	// Table is the table id; zero for the database.
	Table uint64
	// Key is the row key (any byte string that identifies the row within
	// its table, usually the encoded primary key); nil above rows.
	Key []byte
}

// Database returns the database resource.
func Database() Resource { return Resource{Level: LevelDatabase} }

// Table returns the resource of table id.
func Table(id uint64) Resource { return Resource{Level: LevelTable, Table: id} }

// Row returns the resource of the row with the given key in table id. The
// key is borrowed for the duration of the call that receives the Resource.
func Row(table uint64, key []byte) Resource {
	return Resource{Level: LevelRow, Table: table, Key: key}
}

// Parent returns the resource directly above r and whether there is one.
func (r Resource) Parent() (Resource, bool) {
	switch r.Level {
	case LevelRow:
		return Table(r.Table), true
	case LevelTable:
		return Database(), true
	}
	return Resource{}, false
}

// Equal reports whether r and o name the same resource.
func (r Resource) Equal(o Resource) bool {
	return r.Level == o.Level && r.Table == o.Table && bytes.Equal(r.Key, o.Key)
}

// String formats r as "database", "table 7" or "row 7/<key as quoted
// string>".
func (r Resource) String() string {
	switch r.Level {
	case LevelDatabase:
		return "database"
	case LevelTable:
		return "table " + strconv.FormatUint(r.Table, 10)
	case LevelRow:
		return fmt.Sprintf("row %d/%q", r.Table, r.Key)
	}
	return r.Level.String()
}

func (r Resource) valid() bool {
	switch r.Level {
	case LevelDatabase:
		return r.Table == 0 && r.Key == nil
	case LevelTable:
		return r.Key == nil
	case LevelRow:
		return true
	}
	return false
}

// hashSeed is the process-wide seed of resource hashes. Hashes never leave
// the process, so a random seed costs nothing and defeats key patterns that
// would pile into one shard.
var hashSeed = maphash.MakeSeed()

// hash returns the 64-bit hash of r; its low bits pick the shard.
func (r Resource) hash() uint64 {
	h := uint64(r.Level)<<56 ^ r.Table*0x9e3779b97f4a7c15
	if r.Level == LevelRow {
		h ^= maphash.Bytes(hashSeed, r.Key)
	}
	// splitmix64 finalizer: every input bit affects the shard bits.
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}
