package rest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/go-chi/chi/v5"
	"github.com/klauspost/compress/zstd"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// ingestQuery holds the query parameters of an ingest request.
type ingestQuery struct {
	create     bool
	onConflict mantisdb.OnConflict
	csv        csvOptions
}

func parseIngestQuery(r *http.Request) (ingestQuery, error) {
	q := ingestQuery{csv: csvOptions{delimiter: ','}}
	vals := r.URL.Query()
	for k := range vals {
		switch k {
		case "create", "on_conflict", "delimiter", "null":
		default:
			return q, sqlstate.Errorf(sqlstate.InvalidParameterValue, "unknown query parameter %q: ingest takes create, on_conflict, delimiter and null", k)
		}
	}
	if v := vals.Get("create"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return q, sqlstate.Errorf(sqlstate.InvalidParameterValue, "create=%q: want true or false", v)
		}
		q.create = b
	}
	if v := vals.Get("on_conflict"); v != "" {
		switch v {
		case "error":
			q.onConflict = mantisdb.ConflictError
		case "ignore":
			q.onConflict = mantisdb.ConflictIgnore
		case "upsert":
			q.onConflict = mantisdb.ConflictReplace
		default:
			return q, sqlstate.Errorf(sqlstate.InvalidParameterValue, "on_conflict=%q: want error, ignore or upsert", v)
		}
	}
	if vals.Has("delimiter") {
		v := vals.Get("delimiter")
		if v == "tab" || v == `\t` {
			v = "\t"
		}
		d, size := utf8.DecodeRuneInString(v)
		if size == 0 || size != len(v) || d == '"' || d == '\r' || d == '\n' || d == utf8.RuneError {
			return q, sqlstate.Errorf(sqlstate.InvalidParameterValue, "delimiter=%q: want one character other than a quote or newline (tab: delimiter=tab)", v)
		}
		q.csv.delimiter = d
	}
	q.csv.null = vals.Get("null")
	return q, nil
}

// ingestFormatOf returns the format named by the request's Content-Type;
// no Content-Type means NDJSON.
func ingestFormatOf(r *http.Request) (ingestFormat, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return formatNDJSON, nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return 0, &requestError{err: sqlstate.Errorf(sqlstate.InvalidParameterValue, "malformed Content-Type %q", ct), status: http.StatusUnsupportedMediaType}
	}
	f, ok := formatOfMedia(mt)
	if !ok {
		return 0, &requestError{
			err: sqlstate.Errorf(sqlstate.FeatureNotSupported, "unsupported content type %q: send %s, %s, %s, %s or %s",
				mt, mediaNDJSON, mediaJSON, mediaCSV, mediaArrow, mediaParquet),
			status: http.StatusUnsupportedMediaType,
		}
	}
	return f, nil
}

// ingest answers POST /v1/tables/{table}/ingest: the body appended to the
// table in one transaction (see the package documentation).
func (h *Handler) ingest(w http.ResponseWriter, r *http.Request) {
	wire := &countingReader{r: r.Body}
	// fail answers err; the body is not read further.
	fail := func(err error) {
		closeUnread(w, r, wire)
		h.writeError(w, r, err)
	}
	name := chi.URLParam(r, "table")
	format, err := ingestFormatOf(r)
	if err != nil {
		fail(err)
		return
	}
	q, err := parseIngestQuery(r)
	if err != nil {
		fail(err)
		return
	}
	key, err := idempotencyKey(r)
	if err != nil {
		fail(err)
		return
	}
	if key != "" {
		closeUnread(w, r, wire) // a replay answers without reading the body
		if done := h.idem.replay(w, r, h, key, name); done {
			return
		}
		w.Header().Del("Connection")
	}

	body, err := h.decodeBody(r, wire)
	if err != nil {
		fail(err)
		return
	}
	defer body.Close()

	table, ok := h.db.Table(name)
	if !ok && !q.create {
		fail(sqlstate.Errorf(sqlstate.UndefinedTable, "table %q does not exist (add ?create=true to create it from the data)", name))
		return
	}
	src, err := h.openSource(r.Context(), format, name, table, body, q)
	if err != nil {
		fail(err)
		return
	}
	defer src.close()
	n, resp, err := h.writeRows(r.Context(), src.rdr, name, key, mantisdb.IngestOptions{OnConflict: q.onConflict})
	// A decoding error is the cause whatever the database made of it: the
	// database saw the reader fail and wrote nothing.
	if rerr := src.err(); rerr != nil {
		err = rerr
	}
	if err != nil {
		closeUnread(w, r, wire)
		if key != "" && h.idem.replay(w, r, h, key, name) {
			// A concurrent request with the same key won the race.
			return
		}
		h.writeError(w, r, badRow(err))
		return
	}
	h.metrics.ingested(format, n, wire.n)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(resp)
}

// ingestResponse is the body of a successful ingest.
func ingestResponse(n int64) []byte {
	return append(append([]byte(`{"rows_written":`), itoa(n)...), "}\n"...)
}

// writeRows ingests rdr into table in one transaction and returns the
// number of rows and the answer's body. With an idempotency key the key and
// answer are written in the same transaction.
func (h *Handler) writeRows(ctx context.Context, rdr array.RecordReader, table, key string, opts mantisdb.IngestOptions) (int64, []byte, error) {
	if key == "" {
		n, err := h.db.IngestWith(ctx, table, rdr, opts)
		if err != nil {
			return 0, nil, err
		}
		return n, ingestResponse(n), nil
	}
	if err := h.idem.ensureTable(ctx); err != nil {
		return 0, nil, err
	}
	tx, err := h.db.Begin(ctx)
	if err != nil {
		return 0, nil, err
	}
	defer tx.Rollback()
	n, err := tx.IngestWith(ctx, table, rdr, opts)
	if err != nil {
		return 0, nil, err
	}
	resp := ingestResponse(n)
	if err := h.idem.record(ctx, tx, key, table, http.StatusOK, resp); err != nil {
		return 0, nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, nil, err
	}
	return n, resp, nil
}

// source is an opened ingest body: the batches, and what to release.
type source struct {
	rdr     array.RecordReader
	readErr func() error // the reader's own error (decoding), or nil
	cleanup []func()
}

func (s *source) err() error {
	if s.readErr == nil {
		return nil
	}
	return s.readErr()
}

func (s *source) close() {
	if s.rdr != nil {
		s.rdr.Release()
	}
	for i := len(s.cleanup) - 1; i >= 0; i-- {
		s.cleanup[i]()
	}
}

// openSource opens the body as batches for table (nil when it does not
// exist and q.create is set: then the table is created from the data).
func (h *Handler) openSource(ctx context.Context, format ingestFormat, name string, table *catalog.Table, body io.Reader, q ingestQuery) (*source, error) {
	switch format {
	case formatArrow:
		rdr, err := ipc.NewReader(body, ipc.WithAllocator(h.alloc), ipc.WithEnsureNativeEndian(true))
		if err != nil {
			if mbe := asLimitError(err); mbe != nil {
				return nil, mbe
			}
			return nil, &requestError{err: sqlstate.Wrap(err, sqlstate.InvalidText, "malformed Arrow IPC stream: %v", err), status: http.StatusBadRequest}
		}
		src := &source{rdr: rdr, readErr: func() error { return wrapReadErr("Arrow IPC stream", rdr.Err()) }}
		if table == nil {
			if err := h.createFromArrow(ctx, name, rdr.Schema()); err != nil {
				src.close()
				return nil, err
			}
		}
		return src, nil
	case formatParquet:
		return h.openParquet(ctx, name, table, body)
	}
	if table == nil {
		br := bufio.NewReaderSize(body, inferSampleBytes)
		peek, err := br.Peek(inferSampleBytes)
		atEOF := err == io.EOF
		if err != nil && !atEOF && err != bufio.ErrBufferFull {
			return nil, err
		}
		cols, err := inferTextColumns(peek, atEOF, format, q.csv)
		if err != nil {
			return nil, err
		}
		if table, err = h.createTable(ctx, name, cols); err != nil {
			return nil, err
		}
		body = br
	}
	rdr := newTextReader(h.alloc, table, body, h.batchRows, format, q.csv)
	return &source{rdr: rdr, readErr: rdr.Err}, nil
}

// wrapReadErr turns a reader's error into a client error (400), keeping a
// body-limit error as it is (413).
func wrapReadErr(what string, err error) error {
	if err == nil {
		return nil
	}
	if le := asLimitError(err); le != nil {
		return le
	}
	var re *requestError
	if errors.As(err, &re) {
		return err
	}
	return &requestError{err: sqlstate.Wrap(err, sqlstate.InvalidText, "malformed %s: %v", what, err), status: http.StatusBadRequest}
}

// asLimitError returns the body-limit error in err's chain, or nil.
func asLimitError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return mbe
	}
	var re *requestError
	if errors.As(err, &re) && re.status == http.StatusRequestEntityTooLarge {
		return re
	}
	return nil
}

// openParquet reads a Parquet body. Parquet keeps its footer at the end,
// so the body is spooled: in memory up to the spool threshold, in a
// temporary file beyond it.
func (h *Handler) openParquet(ctx context.Context, name string, table *catalog.Table, body io.Reader) (*source, error) {
	var ra interface {
		io.ReaderAt
		io.Seeker
	}
	src := &source{}
	var buf bytes.Buffer
	n, err := io.CopyN(&buf, body, h.spoolBytes+1)
	switch {
	case err == io.EOF:
		ra = bytes.NewReader(buf.Bytes())
	case err != nil:
		return nil, wrapReadErr("Parquet body", err)
	default:
		f, err := os.CreateTemp(h.tempDir, "mantis-ingest-*.parquet")
		if err != nil {
			return nil, fmt.Errorf("cannot spool a Parquet body: %w", err)
		}
		src.cleanup = append(src.cleanup, func() { f.Close(); os.Remove(f.Name()) })
		if _, err := f.Write(buf.Bytes()[:n]); err != nil {
			src.close()
			return nil, fmt.Errorf("cannot spool a Parquet body: %w", err)
		}
		if _, err := io.Copy(f, body); err != nil {
			src.close()
			if le := asLimitError(err); le != nil {
				return nil, le
			}
			return nil, wrapReadErr("Parquet body", err)
		}
		ra = f
	}
	pf, err := file.NewParquetReader(ra)
	if err != nil {
		src.close()
		return nil, &requestError{err: sqlstate.Wrap(err, sqlstate.InvalidText, "malformed Parquet file: %v", err), status: http.StatusBadRequest}
	}
	src.cleanup = append(src.cleanup, func() { pf.Close() })
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: int64(h.batchRows)}, h.alloc)
	if err != nil {
		src.close()
		return nil, &requestError{err: sqlstate.Wrap(err, sqlstate.InvalidText, "cannot read Parquet file: %v", err), status: http.StatusBadRequest}
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		src.close()
		return nil, &requestError{err: sqlstate.Wrap(err, sqlstate.InvalidText, "cannot read Parquet file: %v", err), status: http.StatusBadRequest}
	}
	src.rdr = rr
	src.readErr = func() error { return wrapReadErr("Parquet file", rr.Err()) }
	if table == nil {
		if err := h.createFromArrow(ctx, name, rr.Schema()); err != nil {
			src.close()
			return nil, err
		}
	}
	return src, nil
}

// createFromArrow creates table name with the columns of an Arrow schema.
func (h *Handler) createFromArrow(ctx context.Context, name string, sch *arrow.Schema) error {
	cols := make([]catalog.Column, sch.NumFields())
	for i, f := range sch.Fields() {
		t, ok := catalog.FromArrow(f.Type)
		if !ok {
			return sqlstate.Errorf(sqlstate.DatatypeMismatch, "cannot create table %q: column %q has Arrow type %s, which has no SQL type", name, f.Name, f.Type)
		}
		if t.Kind == catalog.KindNull {
			t = catalog.Varchar
		}
		cols[i] = catalog.Column{Name: f.Name, Type: t, NotNull: !f.Nullable}
	}
	_, err := h.createTable(ctx, name, cols)
	return err
}

// createTable creates table name (if it does not exist by now) and returns
// it. The table has no primary key. DDL cannot run inside the ingest's
// transaction, so a table created here stays even if the ingest then fails.
func (h *Handler) createTable(ctx context.Context, name string, cols []catalog.Column) (*catalog.Table, error) {
	if len(cols) == 0 {
		return nil, sqlstate.Errorf(sqlstate.InvalidParameterValue, "cannot create table %q: the data has no columns", name)
	}
	var sb strings.Builder
	sb.WriteString("CREATE TABLE IF NOT EXISTS ")
	sb.WriteString(quoteIdent(name))
	sb.WriteString(" (")
	for i, c := range cols {
		if c.Name == "" {
			return nil, sqlstate.Errorf(sqlstate.InvalidParameterValue, "cannot create table %q: column %d has no name", name, i+1)
		}
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(quoteIdent(c.Name))
		sb.WriteByte(' ')
		sb.WriteString(c.Type.String())
		if c.NotNull {
			sb.WriteString(" NOT NULL")
		}
	}
	sb.WriteByte(')')
	if _, err := h.db.Exec(ctx, sb.String()); err != nil {
		return nil, err
	}
	t, ok := h.db.Table(name)
	if !ok {
		return nil, sqlstate.Errorf(sqlstate.UndefinedTable, "table %q was dropped while it was being created", name)
	}
	return t, nil
}

// quoteIdent quotes an identifier for the SQL dialect (ANSI quotes).
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// decodeBody returns the request body decoded by its Content-Encoding,
// limited to the decoded-size limit.
func (h *Handler) decodeBody(r *http.Request, wire io.Reader) (io.ReadCloser, error) {
	enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	var (
		rd  io.Reader
		cls func()
	)
	switch enc {
	case "", "identity":
		return io.NopCloser(wire), nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(wire)
		if err != nil {
			if le := asLimitError(err); le != nil {
				return nil, le
			}
			return nil, &requestError{err: sqlstate.Wrap(err, sqlstate.InvalidText, "malformed gzip body: %v", err), status: http.StatusBadRequest}
		}
		rd, cls = zr, func() { zr.Close() }
	case "zstd":
		zr, err := zstd.NewReader(wire, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(max(h.maxDecoded, 64<<20))))
		if err != nil {
			return nil, &requestError{err: sqlstate.Wrap(err, sqlstate.InvalidText, "malformed zstd body: %v", err), status: http.StatusBadRequest}
		}
		rd, cls = zr, zr.Close
	default:
		return nil, &requestError{
			err:    sqlstate.Errorf(sqlstate.FeatureNotSupported, "unsupported Content-Encoding %q: send gzip, zstd or no encoding", enc),
			status: http.StatusUnsupportedMediaType,
		}
	}
	rd = &decodeErrReader{r: rd, enc: enc}
	if h.maxDecoded > 0 {
		rd = &limitReader{r: rd, left: h.maxDecoded, limit: h.maxDecoded}
	}
	return readCloser{Reader: rd, close: cls}, nil
}

type readCloser struct {
	io.Reader
	close func()
}

func (rc readCloser) Close() error {
	rc.close()
	return nil
}

// decodeErrReader gives the decompressor's errors a client error (400),
// keeping a body-limit error as it is.
type decodeErrReader struct {
	r   io.Reader
	enc string
}

func (d *decodeErrReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err != nil && err != io.EOF {
		if le := asLimitError(err); le != nil {
			return n, le
		}
		err = &requestError{err: sqlstate.Wrap(err, sqlstate.InvalidText, "malformed %s body: %v", d.enc, err), status: http.StatusBadRequest}
	}
	return n, err
}

// limitReader fails with 413 after limit bytes: the decoded size limit,
// which keeps a small compressed body from expanding without bound.
type limitReader struct {
	r           io.Reader
	left, limit int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// A body of exactly the limit is fine: look for one byte more.
		var one [1]byte
		if n, err := l.r.Read(one[:]); n == 0 {
			return 0, err
		}
		return 0, &requestError{
			err:     sqlstate.Errorf(sqlstate.ProgramLimitExceeded, "decompressed request body is larger than the limit of %s", formatBytes(l.limit)),
			status:  http.StatusRequestEntityTooLarge,
			details: map[string]any{"limit_bytes": l.limit},
		}
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// countingReader counts the bytes read through it and notes the end of
// its input.
type countingReader struct {
	r   io.Reader
	n   int64
	end bool // a Read returned an error (io.EOF or another)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil {
		c.end = true
	}
	return n, err
}

// closeUnread makes the answer about to be written close the connection
// when the request's body (read through wire) has not been read to its
// end: an early error (415, 404), a bad row in the middle of a stream, a
// replayed Idempotency-Key. Otherwise net/http reads up to 256 KiB of the
// rest of the body before it sends the answer, and a client that sends
// its body slowly, or streams one, waits for it as long. With the
// header the answer goes out at once; net/http then reads on (at most
// 256 KiB) or pauses before it closes the connection, so that a client
// still sending is not reset before it has read the answer.
func closeUnread(w http.ResponseWriter, r *http.Request, wire *countingReader) {
	if r.ContentLength != 0 && !wire.end {
		w.Header().Set("Connection", "close")
	}
}
