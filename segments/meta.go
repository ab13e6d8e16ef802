package segments

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/mantisdb/mantisdb/catalog"
)

// FormatVersion is the version of the segment format written by this
// binary: the layout of the Parquet file (column mapping, key/value
// metadata), of the index file and of the encoded Meta. Readers accept every
// version up to it and refuse newer ones with ErrNewerFormat.
//
// Version 2 stores DECIMAL columns of precision up to 18 as Parquet INT64
// (decimal64Key); version 1 stored every DECIMAL as FIXED_LEN_BYTE_ARRAY.
// Version 3 adds Meta.Level to the encoded Meta; its Parquet and index
// files are laid out as in version 2.
const FormatVersion = 3

var (
	// ErrNewerFormat marks a segment, index or Meta written by a newer
	// binary. The store must not be opened by this binary.
	ErrNewerFormat = errors.New("segment format is newer than this binary supports")
	// ErrCorruption marks a segment file, index file or Meta that cannot be
	// decoded or fails its checksum.
	ErrCorruption = errors.New("segment corrupted")
	// ErrUnsorted marks input to a Writer that is not in sort-key order (or
	// repeats a primary key) when WriterOptions.VerifyOrder is set.
	ErrUnsorted = errors.New("segment input not sorted by its sort key")
	// ErrSchemaMismatch marks a read with a table schema whose column types
	// differ from the segment's for a column of the same name.
	ErrSchemaMismatch = errors.New("segment schema does not match the table schema")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ColumnStats are the statistics of one column over a whole segment, kept in
// the manifest entry for the planner.
type ColumnStats struct {
	// Name is the column name at write time.
	Name string
	// Type is the column's SQL type at write time.
	Type catalog.Type
	// NullCount is the number of NULLs.
	NullCount int64
	// Min and Max bound the non-NULL values; both are NULL when the column
	// holds only NULLs.
	Min, Max Value
	// Distinct is the exact number of distinct non-NULL values when the
	// column has a bitmap index, and -1 (unknown, above the index threshold)
	// otherwise.
	Distinct int64
	// Bytes is the compressed size of the column's chunks in the Parquet file.
	Bytes int64
	// Bitmap reports whether the index file holds a value → rows bitmap
	// index for the column; Bloom whether it holds a bloom filter.
	Bitmap, Bloom bool
}

// Meta describes one segment: everything the manifest entry stores about it.
// Together with the segment's two files it is all that is needed to read the
// segment. A Meta returned by this package is not modified afterwards and is
// safe for concurrent reads.
type Meta struct {
	// FormatVersion is the segment format version the files were written in.
	FormatVersion uint32
	// ID names the segment's files (see FileName); unique within a directory.
	ID uint64
	// TableID and SchemaVersion identify the table descriptor the segment
	// was written with (catalog.Table.ID and Version).
	TableID, SchemaVersion uint64
	// Rows is the number of rows, deleted or not.
	Rows int64
	// RowGroupSize is the number of rows of every row group but the last.
	RowGroupSize int64
	// RowGroups is the number of row groups.
	RowGroups int
	// FileSize and IndexSize are the sizes in bytes of the Parquet file and
	// of the index file.
	FileSize, IndexSize int64
	// IndexCRC is the CRC-32C of the index file; Open checks it.
	IndexCRC uint32
	// Compression is the page compression of the Parquet file.
	Compression Compression
	// SortKey lists the names of the sort key columns in key order; empty
	// when the table has no sort key (rows are then in insertion order).
	SortKey []string
	// KeyMin and KeyMax are the first and last sort keys of the segment (one
	// Value per SortKey column); empty when SortKey is or Rows is zero.
	KeyMin, KeyMax []Value
	// Columns holds per-column statistics in the order of the table schema
	// the segment was written with.
	Columns []ColumnStats
	// Level is the segment's merge level: 0 for a segment written from the
	// row store, one more than the highest level of its inputs for Merge.
	// Encoded since format version 3; older Metas decode as level 0.
	Level uint32
}

// Column returns the statistics of the named column (case-insensitive) and
// its index, or -1.
func (m *Meta) Column(name string) (*ColumnStats, int) {
	for i := range m.Columns {
		if equalFold(m.Columns[i].Name, name) {
			return &m.Columns[i], i
		}
	}
	return nil, -1
}

const metaMagic = "MSEG"

// Encode returns the versioned binary encoding of m (magic, format version,
// body, CRC-32C), the value of the segment's manifest entry.
func (m *Meta) Encode() []byte {
	b := make([]byte, 0, 256+64*len(m.Columns))
	b = append(b, metaMagic...)
	b = binary.AppendUvarint(b, uint64(m.FormatVersion))
	b = binary.AppendUvarint(b, m.ID)
	b = binary.AppendUvarint(b, m.TableID)
	b = binary.AppendUvarint(b, m.SchemaVersion)
	b = binary.AppendVarint(b, m.Rows)
	b = binary.AppendVarint(b, m.RowGroupSize)
	b = binary.AppendUvarint(b, uint64(m.RowGroups))
	b = binary.AppendVarint(b, m.FileSize)
	b = binary.AppendVarint(b, m.IndexSize)
	b = binary.LittleEndian.AppendUint32(b, m.IndexCRC)
	b = append(b, byte(m.Compression))
	b = binary.AppendUvarint(b, uint64(len(m.SortKey)))
	for _, s := range m.SortKey {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(m.KeyMin)))
	for i := range m.KeyMin {
		b = appendValue(b, m.KeyMin[i])
		b = appendValue(b, m.KeyMax[i])
	}
	b = binary.AppendUvarint(b, uint64(len(m.Columns)))
	for i := range m.Columns {
		c := &m.Columns[i]
		b = appendString(b, c.Name)
		b = appendType(b, c.Type)
		b = binary.AppendVarint(b, c.NullCount)
		b = appendValue(b, c.Min)
		b = appendValue(b, c.Max)
		b = binary.AppendVarint(b, c.Distinct)
		b = binary.AppendVarint(b, c.Bytes)
		var flags byte
		if c.Bitmap {
			flags |= 1
		}
		if c.Bloom {
			flags |= 2
		}
		b = append(b, flags)
	}
	if m.FormatVersion >= 3 {
		b = binary.AppendUvarint(b, uint64(m.Level))
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// DecodeMeta decodes a Meta encoded by Encode of this or an older version. A
// newer format fails with an error wrapping ErrNewerFormat, a damaged one
// with ErrCorruption.
func DecodeMeta(b []byte) (*Meta, error) {
	if len(b) < len(metaMagic)+1+4 || string(b[:len(metaMagic)]) != metaMagic {
		return nil, fmt.Errorf("cannot decode segment meta: %w: bad magic", ErrCorruption)
	}
	// The version comes before the checksum test so that a newer format with
	// a different trailer is still reported as newer, not as corrupt.
	d := decoder{b: b[len(metaMagic):]}
	version := d.uvarint()
	if d.err == nil && version > FormatVersion {
		return nil, fmt.Errorf("cannot decode segment meta: %w (version %d, supported up to %d)",
			ErrNewerFormat, version, FormatVersion)
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("cannot decode segment meta: %w: checksum mismatch", ErrCorruption)
	}
	d = decoder{b: body[len(metaMagic):]}
	m := &Meta{FormatVersion: uint32(d.uvarint())}
	m.ID = d.uvarint()
	m.TableID = d.uvarint()
	m.SchemaVersion = d.uvarint()
	m.Rows = d.varint()
	m.RowGroupSize = d.varint()
	m.RowGroups = int(d.uvarint())
	m.FileSize = d.varint()
	m.IndexSize = d.varint()
	if len(d.b) < 5 {
		d.fail("meta")
	} else {
		m.IndexCRC = binary.LittleEndian.Uint32(d.b)
		m.Compression = Compression(d.b[4])
		d.b = d.b[5:]
	}
	if n := d.uvarint(); n > 0 && n < 1<<16 {
		m.SortKey = make([]string, n)
		for i := range m.SortKey {
			m.SortKey[i] = d.str()
		}
	}
	if n := d.uvarint(); n > 0 && n < 1<<16 {
		m.KeyMin, m.KeyMax = make([]Value, n), make([]Value, n)
		for i := range m.KeyMin {
			m.KeyMin[i] = d.value()
			m.KeyMax[i] = d.value()
		}
	}
	if n := d.uvarint(); n > 0 && n < 1<<16 {
		m.Columns = make([]ColumnStats, n)
		for i := range m.Columns {
			c := &m.Columns[i]
			c.Name = d.str()
			c.Type = d.typ()
			c.NullCount = d.varint()
			c.Min = d.value()
			c.Max = d.value()
			c.Distinct = d.varint()
			c.Bytes = d.varint()
			flags := d.byte1()
			c.Bitmap, c.Bloom = flags&1 != 0, flags&2 != 0
		}
	}
	if version >= 3 {
		m.Level = uint32(d.uvarint())
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("meta (trailing bytes)")
	}
	if d.err != nil {
		return nil, fmt.Errorf("cannot decode segment meta: %w", d.err)
	}
	return m, nil
}

func appendType(b []byte, t catalog.Type) []byte {
	b = append(b, byte(t.Kind))
	b = binary.AppendVarint(b, int64(t.Precision))
	b = binary.AppendVarint(b, int64(t.Scale))
	return binary.AppendVarint(b, int64(t.Length))
}

func (d *decoder) typ() catalog.Type {
	t := catalog.Type{Kind: catalog.Kind(d.byte1())}
	t.Precision = int32(d.varint())
	t.Scale = int32(d.varint())
	t.Length = int32(d.varint())
	return t
}
