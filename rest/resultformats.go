package rest

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// resultEncoder writes a query result in one format: begin, batch per
// record, then end, or endWithError for an error found after the status
// was sent. Implementations are not safe for concurrent use.
type resultEncoder interface {
	contentType() string
	begin(w io.Writer, sch *arrow.Schema, h *Handler) error
	batch(rec arrow.RecordBatch) error
	end() error
	// endWithError ends the answer with an error and reports whether the
	// format could say so.
	endWithError(e errorJSON) bool
}

// resultFormats are the result formats by media type, in the order of
// preference when the client accepts several equally.
var resultFormats = []struct {
	media string
	make  func() resultEncoder
}{
	{mediaJSON, func() resultEncoder { return &jsonEncoder{} }},
	{mediaNDJSON, func() resultEncoder { return &ndjsonEncoder{} }},
	{mediaCSV, func() resultEncoder { return &csvEncoder{} }},
	{mediaArrow, func() resultEncoder { return &arrowEncoder{} }},
	{mediaParquet, func() resultEncoder { return &parquetEncoder{} }},
}

// negotiate picks the result format from the Accept header (or the format
// query parameter, which wins: json, ndjson, csv, arrow or parquet).
// Absent, or */*, means JSON; nothing acceptable is a 406.
func negotiate(r *http.Request) (resultEncoder, error) {
	if f := r.URL.Query().Get("format"); f != "" {
		for _, rf := range resultFormats {
			if f == formatShortName(rf.media) {
				return rf.make(), nil
			}
		}
		return nil, sqlstate.Errorf(sqlstate.InvalidParameterValue, "format=%q: want json, ndjson, csv, arrow or parquet", f)
	}
	accept := r.Header.Get("Accept")
	if strings.TrimSpace(accept) == "" {
		return &jsonEncoder{}, nil
	}
	type rangeQ struct {
		media string
		q     float64
		pos   int
	}
	var ranges []rangeQ
	for i, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		if q > 0 {
			ranges = append(ranges, rangeQ{mt, q, i})
		}
	}
	sort.SliceStable(ranges, func(i, j int) bool { return ranges[i].q > ranges[j].q })
	for _, rg := range ranges {
		for _, rf := range resultFormats {
			if matchMedia(rg.media, rf.media) {
				return rf.make(), nil
			}
		}
	}
	return nil, &requestError{
		err: sqlstate.Errorf(sqlstate.FeatureNotSupported, "cannot answer in %q: accept %s, %s, %s, %s or %s",
			accept, mediaJSON, mediaNDJSON, mediaCSV, mediaArrow, mediaParquet),
		status: http.StatusNotAcceptable,
	}
}

func matchMedia(pattern, media string) bool {
	switch {
	case pattern == "*/*" || pattern == media:
		return true
	case strings.HasSuffix(pattern, "/*"):
		return strings.HasPrefix(media, strings.TrimSuffix(pattern, "*"))
	}
	return false
}

func formatShortName(media string) string {
	switch media {
	case mediaJSON:
		return "json"
	case mediaNDJSON:
		return "ndjson"
	case mediaCSV:
		return "csv"
	case mediaArrow:
		return "arrow"
	}
	return "parquet"
}

// jsonEncoder writes {"columns": […], "rows": [[…], …]}.
type jsonEncoder struct {
	w   io.Writer
	rw  *resultWriter
	buf []byte
}

func (e *jsonEncoder) contentType() string { return mediaJSON }

func (e *jsonEncoder) begin(w io.Writer, sch *arrow.Schema, _ *Handler) error {
	e.w, e.rw = w, newResultWriter(sch)
	e.buf = e.rw.appendHeader(e.buf[:0])
	return nil
}

func (e *jsonEncoder) batch(rec arrow.RecordBatch) error {
	var err error
	if e.buf, err = e.rw.appendRows(e.buf, rec); err != nil {
		return err
	}
	_, err = e.w.Write(e.buf)
	e.buf = e.buf[:0]
	return err
}

func (e *jsonEncoder) end() error {
	_, err := e.w.Write([]byte("]}\n"))
	return err
}

func (e *jsonEncoder) endWithError(ej errorJSON) bool {
	b, err := json.Marshal(ej)
	if err != nil {
		b = []byte(`{"code":"XX000","message":"internal error"}`)
	}
	_, _ = e.w.Write(append(append([]byte(`],"error":`), b...), "}\n"...))
	return true
}

// ndjsonEncoder writes one JSON object per row, keyed by column name; an
// error after rows ends the stream with a line {"error": {…}}.
type ndjsonEncoder struct {
	w    io.Writer
	keys [][]byte // `{"name":` for the first column, `,"name":` for the rest
	cols []valueWriter
	buf  []byte
}

func (e *ndjsonEncoder) contentType() string { return mediaNDJSON }

func (e *ndjsonEncoder) begin(w io.Writer, sch *arrow.Schema, _ *Handler) error {
	e.w = w
	e.cols = make([]valueWriter, sch.NumFields())
	e.keys = make([][]byte, sch.NumFields())
	for i, f := range sch.Fields() {
		k := []byte{','}
		if i == 0 {
			k[0] = '{'
		}
		k = appendJSONString(k, f.Name)
		e.keys[i] = append(k, ':')
	}
	return nil
}

func (e *ndjsonEncoder) batch(rec arrow.RecordBatch) error {
	for i := range e.cols {
		if err := e.cols[i].bind(rec.Column(i)); err != nil {
			return err
		}
	}
	buf := e.buf[:0]
	for row := 0; row < int(rec.NumRows()); row++ {
		if len(e.cols) == 0 {
			buf = append(buf, '{')
		}
		for i := range e.cols {
			buf = append(buf, e.keys[i]...)
			buf = e.cols[i].appendJSON(buf, row)
		}
		buf = append(buf, "}\n"...)
	}
	e.buf = buf
	_, err := e.w.Write(buf)
	return err
}

func (e *ndjsonEncoder) end() error { return nil }

func (e *ndjsonEncoder) endWithError(ej errorJSON) bool {
	b, err := json.Marshal(errorBody{Error: ej})
	if err != nil {
		b = []byte(`{"error":{"code":"XX000","message":"internal error"}}`)
	}
	_, _ = e.w.Write(append(b, '\n'))
	return true
}

// csvEncoder writes RFC 4180 CSV: a header row of column names, then one
// line per row; NULL is an empty field, strings are quoted when needed,
// other values have their JSON text without quotes.
type csvEncoder struct {
	w    io.Writer
	sch  *arrow.Schema
	cols []valueWriter
	buf  []byte
}

func (e *csvEncoder) contentType() string { return mediaCSV + "; charset=utf-8; header=present" }

func (e *csvEncoder) begin(w io.Writer, sch *arrow.Schema, _ *Handler) error {
	e.w, e.sch = w, sch
	e.cols = make([]valueWriter, sch.NumFields())
	buf := e.buf[:0]
	for i, f := range sch.Fields() {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendCSVField(buf, f.Name)
	}
	buf = append(buf, "\r\n"...)
	_, err := w.Write(buf)
	e.buf = buf[:0]
	return err
}

func (e *csvEncoder) batch(rec arrow.RecordBatch) error {
	for i := range e.cols {
		if err := e.cols[i].bind(rec.Column(i)); err != nil {
			return err
		}
	}
	buf := e.buf[:0]
	for row := 0; row < int(rec.NumRows()); row++ {
		for i := range e.cols {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = e.cols[i].appendCSV(buf, row)
		}
		buf = append(buf, "\r\n"...)
	}
	e.buf = buf
	_, err := e.w.Write(buf)
	return err
}

func (e *csvEncoder) end() error                  { return nil }
func (e *csvEncoder) endWithError(errorJSON) bool { return false }

// csvNeedsQuotes reports whether s holds a comma, quote, CR or LF or
// starts or ends with a space (s is not empty).
func csvNeedsQuotes(s string) bool {
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return true
	}
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if csvSpecial8(load64(s, i)) {
			return true
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c <= '"' || c == ',' {
			// One comparison keeps the loop cheap: the bytes up to '"'
			// are rare in text.
			if c == '"' || c == ',' || c == '\r' || c == '\n' {
				return true
			}
		}
	}
	return false
}

// csvSpecial8 reports whether one of the eight bytes of x is a comma,
// quote, CR or LF (the "has a zero byte" word test of each, exact).
func csvSpecial8(x uint64) bool {
	has := func(c uint64) uint64 {
		v := x ^ (bytesOf1 * c)
		return (v - bytesOf1) &^ v
	}
	return (has(',')|has('"')|has('\r')|has('\n'))&bytesOf80 != 0
}

// appendCSVField appends s, quoted if it holds a comma, quote, CR or LF or
// starts or ends with a space.
func appendCSVField(dst []byte, s string) []byte {
	if s == "" || !csvNeedsQuotes(s) {
		return append(dst, s...)
	}
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, s[i])
	}
	return append(dst, '"')
}

// arrowEncoder writes an Arrow IPC stream.
type arrowEncoder struct {
	wr *ipc.Writer
}

func (e *arrowEncoder) contentType() string { return mediaArrow }

func (e *arrowEncoder) begin(w io.Writer, sch *arrow.Schema, h *Handler) error {
	e.wr = ipc.NewWriter(w, ipc.WithSchema(sch), ipc.WithAllocator(h.alloc))
	return nil
}

func (e *arrowEncoder) batch(rec arrow.RecordBatch) error { return e.wr.Write(rec) }
func (e *arrowEncoder) end() error                        { return e.wr.Close() }
func (e *arrowEncoder) endWithError(errorJSON) bool {
	_ = e.wr.Close()
	return false
}

// parquetRowGroupRows bounds the rows buffered for one Parquet row group
// of a result, and so the memory of a Parquet answer.
const parquetRowGroupRows = 64 << 10

// parquetPageBytes is the size of the Parquet data pages of an answer.
// arrow-go allocates a page's buffers afresh for every column chunk and
// clears them: with its default of 1 MiB that clearing was a fifth of the
// encoder's CPU. Pages of 256 KiB cost 20% less CPU for a file 2% larger
// (64 KiB pages: 20% larger, Snappy finding fewer matches).
const parquetPageBytes = 256 << 10

// parquetEncoder writes a Parquet file: Snappy pages, PLAIN encoding,
// DECIMAL of precision up to 18 as INT32/INT64, min/max statistics for
// every column but strings and binaries. Rows are buffered up to a row
// group at a time, and the footer is written at the end.
//
// The choices are the writer's cost: an answer is written once and read
// once, so it buys speed, not the last bytes (BenchmarkQueryAnswer). Snappy
// is read by every Parquet reader and costs half of ZSTD's CPU; arrow-go's
// LZ4_RAW encoder was slower still. Dictionary pages cost 1–2 µs per row
// in arrow-go's memo table (an interface value per string) and, for
// columns of distinct values such as comments, again when the dictionary
// overflows and falls back to PLAIN. DECIMAL as FIXED_LEN_BYTE_ARRAY
// costs a big-endian copy and a byte compare per value for its statistics,
// as INT64 neither. String min/max statistics compare every value.
type parquetEncoder struct {
	fw  *pqarrow.FileWriter
	out *abortableWriter
}

// abortableWriter passes writes on until aborted, then drops them: a
// Parquet answer that fails midway closes its file writer (to release the
// buffered row group) without a byte of the rest reaching the client.
type abortableWriter struct {
	w       io.Writer
	aborted bool
}

func (a *abortableWriter) Write(p []byte) (int, error) {
	if a.aborted {
		return len(p), nil
	}
	return a.w.Write(p)
}

func (e *parquetEncoder) contentType() string { return mediaParquet }

func (e *parquetEncoder) begin(w io.Writer, sch *arrow.Schema, h *Handler) error {
	opts := []parquet.WriterProperty{
		parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithMaxRowGroupLength(parquetRowGroupRows),
		parquet.WithAllocator(h.alloc),
		parquet.WithDictionaryDefault(false),
		parquet.WithStoreDecimalAsInteger(true),
		parquet.WithDataPageSize(parquetPageBytes),
	}
	for _, f := range sch.Fields() {
		switch f.Type.ID() {
		case arrow.STRING, arrow.BINARY, arrow.LARGE_STRING, arrow.LARGE_BINARY:
			opts = append(opts, parquet.WithStatsFor(f.Name, false))
		}
	}
	props := parquet.NewWriterProperties(opts...)
	e.out = &abortableWriter{w: w}
	fw, err := pqarrow.NewFileWriter(sch, e.out, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema(), pqarrow.WithAllocator(h.alloc)))
	if err != nil {
		return err
	}
	e.fw = fw
	return nil
}

func (e *parquetEncoder) batch(rec arrow.RecordBatch) error { return e.fw.WriteBuffered(rec) }
func (e *parquetEncoder) end() error                        { return e.fw.Close() }
func (e *parquetEncoder) endWithError(errorJSON) bool {
	// Close releases the buffered row group; what it writes (the rest of
	// the row group, the footer) is dropped, and the caller cuts the
	// connection, so no reader takes the partial file for whole.
	e.out.aborted = true
	_ = e.fw.Close()
	return false
}
