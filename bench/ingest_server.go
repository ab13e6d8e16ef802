package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	arrowflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/flight"
	"github.com/mantisdb/mantisdb/rest"
)

// Ingest methods through MantisDB's servers. The server runs inside the
// measuring child and the client talks to it over loopback TCP, so the
// numbers include the protocol, encoding and HTTP/gRPC stacks of the real
// server (and the client's share of the two cores).
const (
	methodRESTNDJSON   = "rest-ndjson"
	methodRESTNDJSON1K = "rest-ndjson-1k"
	methodRESTCSV      = "rest-csv"
	methodRESTArrow    = "rest-arrow"
	methodFlightSQL    = "flightsql"
	methodFlightDoPut  = "flight-doput"
	// The same two calls made by MantisDB's Go ingest client
	// (flight.Ingest), which sends the batches' buffers to gRPC by
	// reference instead of through arrow-go's Flight writer: a tuned
	// client, reported beside the stock one, not instead of it.
	methodFlightSQLTuned   = "flightsql-tuned"
	methodFlightDoPutTuned = "flight-doput-tuned"
	// The stock clients again, with every batch streamed in one call: how
	// a DataFrame arrives from ADBC's adbc_ingest or pyarrow's do_put
	// writer. The server encodes each batch as it arrives, while the
	// client writes the next, and commits once at the end; the call is
	// acknowledged once durable.
	methodFlightSQLStream   = "flightsql-stream"
	methodFlightDoPutStream = "flight-doput-stream"
)

// serverMethods lists the server ingest methods in report order.
var serverMethods = []string{methodRESTNDJSON, methodRESTNDJSON1K, methodRESTCSV, methodRESTArrow,
	methodFlightSQL, methodFlightDoPut, methodFlightSQLTuned, methodFlightDoPutTuned,
	methodFlightSQLStream, methodFlightDoPutStream}

// serverMethodNames are the report names of the server ingest methods.
var serverMethodNames = map[string]string{
	methodRESTNDJSON:   "REST NDJSON (POST /v1/tables/{t}/ingest)",
	methodRESTNDJSON1K: "REST NDJSON, 1K-row requests from 4 clients",
	methodRESTCSV:      "REST CSV (POST /v1/tables/{t}/ingest)",
	methodRESTArrow:    "REST Arrow IPC stream (POST /v1/tables/{t}/ingest)",
	methodFlightSQL:    "Flight SQL ExecuteIngest (bulk ingest)",
	methodFlightDoPut:  "Flight DoPut, descriptor path [table]",

	methodFlightSQLTuned:   "Flight SQL ingest, tuned Go client (mantisdb flight.Ingest)",
	methodFlightDoPutTuned: "Flight DoPut [table], tuned Go client (mantisdb flight.Ingest)",

	methodFlightSQLStream:   "Flight SQL ExecuteIngest, every batch in one call",
	methodFlightDoPutStream: "Flight DoPut [table], every batch in one call",
}

// Small-request ingest: the 1K-row method splits every batch into requests
// of smallRequestRows rows, sent by smallRequestClients clients at once (an
// application's writers; group commit shares their fsyncs).
const (
	smallRequestRows    = 1000
	smallRequestClients = 4
)

// serverIngest prepares the request bodies of method outside the clock and
// returns a function that sends them all; each request is one durable
// acknowledgement.
func serverIngest(ctx context.Context, db *mantisdb.DB, method, table string, recs []arrow.RecordBatch) (send func() error, stop func(), err error) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	switch method {
	case methodRESTNDJSON, methodRESTNDJSON1K, methodRESTCSV, methodRESTArrow:
		srv := httptest.NewServer(rest.NewHandler(db, &rest.Options{Logger: quiet}))
		url := srv.URL + "/v1/tables/" + table + "/ingest"
		ctype, clients := "application/x-ndjson", 1
		var bodies [][]byte
		for _, rec := range recs {
			var b []byte
			switch method {
			case methodRESTNDJSON:
				b = ndjsonBody(rec)
			case methodRESTNDJSON1K:
				clients = smallRequestClients
				for off := int64(0); off < rec.NumRows(); off += smallRequestRows {
					part := rec.NewSlice(off, min(off+smallRequestRows, rec.NumRows()))
					bodies = append(bodies, ndjsonBody(part))
					part.Release()
				}
				continue
			case methodRESTCSV:
				ctype = "text/csv"
				b = csvBody(rec)
			default:
				ctype = "application/vnd.apache.arrow.stream"
				if b, err = ipcBody(rec); err != nil {
					srv.Close()
					return nil, nil, err
				}
			}
			bodies = append(bodies, b)
		}
		client := srv.Client()
		post := func(b []byte) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", ctype)
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(body))
			}
			return nil
		}
		send = func() error { return sendAll(bodies, clients, post) }
		return send, srv.Close, nil
	case methodFlightDoPut, methodFlightSQL, methodFlightSQLTuned, methodFlightDoPutTuned,
		methodFlightSQLStream, methodFlightDoPutStream:
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		srv := flight.NewServer(db, &flight.Options{Logger: quiet})
		go srv.Serve(lis)
		client, err := flightsql.NewClient(lis.Addr().String(), nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			srv.Stop()
			return nil, nil, err
		}
		opts := &flightsql.ExecuteIngestOpts{
			Table: table,
			TableDefinitionOptions: &flightsql.TableDefinitionOptions{
				IfNotExist: flightsql.TableDefinitionOptionsTableNotExistOptionFail,
				IfExists:   flightsql.TableDefinitionOptionsTableExistsOptionAppend,
			},
		}
		stop := func() { client.Close(); srv.Stop() }
		var put func(recs ...arrow.RecordBatch) error
		switch method {
		case methodFlightDoPut, methodFlightDoPutStream:
			put = func(recs ...arrow.RecordBatch) error { return doPut(ctx, client.Client, table, recs) }
		case methodFlightSQL, methodFlightSQLStream:
			put = func(recs ...arrow.RecordBatch) error {
				return withReader(recs, func(rdr array.RecordReader) error {
					_, err := client.ExecuteIngest(ctx, rdr, opts)
					return err
				})
			}
		default:
			desc := &arrowflight.FlightDescriptor{Type: arrowflight.DescriptorPATH, Path: []string{table}}
			if method == methodFlightSQLTuned {
				if desc, err = flight.IngestDescriptor(opts); err != nil {
					client.Close()
					srv.Stop()
					return nil, nil, err
				}
			}
			put = func(recs ...arrow.RecordBatch) error {
				return withReader(recs, func(rdr array.RecordReader) error {
					_, err := flight.Ingest(ctx, client.Client, desc, rdr, nil)
					return err
				})
			}
		}
		if method == methodFlightSQLStream || method == methodFlightDoPutStream {
			return func() error {
				if len(recs) == 0 {
					return nil
				}
				return put(recs...)
			}, stop, nil
		}
		// One call per batch, each acknowledged once durable.
		send = func() error {
			for _, rec := range recs {
				if err := put(rec); err != nil {
					return err
				}
			}
			return nil
		}
		return send, stop, nil
	}
	return nil, nil, fmt.Errorf("unknown ingest method %q", method)
}

// sendAll sends every body with post from the given number of clients at
// once and returns the first error.
func sendAll(bodies [][]byte, clients int, post func([]byte) error) error {
	next := make(chan []byte)
	errs := make(chan error, clients)
	for range clients {
		go func() {
			var first error
			for b := range next {
				if first == nil {
					first = post(b)
				}
			}
			errs <- first
		}()
	}
	for _, b := range bodies {
		next <- b
	}
	close(next)
	var first error
	for range clients {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// withReader calls f with a reader of recs (at least one).
func withReader(recs []arrow.RecordBatch, f func(array.RecordReader) error) error {
	rdr, err := array.NewRecordReader(recs[0].Schema(), recs)
	if err != nil {
		return err
	}
	defer rdr.Release()
	return f(rdr)
}

// doPut writes recs (at least one) to table with one plain Flight DoPut
// (descriptor path [table]) and waits for the server's acknowledgement.
func doPut(ctx context.Context, client arrowflight.Client, table string, recs []arrow.RecordBatch) error {
	stream, err := client.DoPut(ctx)
	if err != nil {
		return err
	}
	w := arrowflight.NewRecordWriter(stream, ipc.WithSchema(recs[0].Schema()))
	w.SetFlightDescriptor(&arrowflight.FlightDescriptor{Type: arrowflight.DescriptorPATH, Path: []string{table}})
	for _, rec := range recs {
		if err := w.Write(rec); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	for {
		if _, err := stream.Recv(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// csvBody renders rec as CSV with a header row: decimals and numbers as
// written, dates as YYYY-MM-DD.
func csvBody(rec arrow.RecordBatch) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	row := make([]string, rec.NumCols())
	for c := range row {
		row[c] = rec.Schema().Field(c).Name
	}
	_ = w.Write(row)
	for r := 0; r < int(rec.NumRows()); r++ {
		for c := range row {
			switch a := rec.Column(c).(type) {
			case *array.Date32:
				row[c] = a.Value(r).ToTime().Format(time.DateOnly)
			default:
				row[c] = a.ValueStr(r)
			}
		}
		_ = w.Write(row)
	}
	w.Flush()
	return buf.Bytes()
}

// ndjsonBody renders rec as NDJSON: numbers and decimals as JSON numbers,
// text and dates as strings.
func ndjsonBody(rec arrow.RecordBatch) []byte {
	var b []byte
	names := make([][]byte, rec.NumCols())
	for c := range names {
		names[c], _ = json.Marshal(rec.Schema().Field(c).Name)
	}
	for r := 0; r < int(rec.NumRows()); r++ {
		b = append(b, '{')
		for c := 0; c < int(rec.NumCols()); c++ {
			if c > 0 {
				b = append(b, ',')
			}
			b = append(b, names[c]...)
			b = append(b, ':')
			col := rec.Column(c)
			switch a := col.(type) {
			case *array.Int64:
				b = strconv.AppendInt(b, a.Value(r), 10)
			case *array.Int32:
				b = strconv.AppendInt(b, int64(a.Value(r)), 10)
			case *array.Decimal128:
				b = append(b, a.ValueStr(r)...)
			case *array.String:
				// Go quoting equals JSON quoting for the printable ASCII
				// text dbgen produces.
				b = strconv.AppendQuote(b, a.Value(r))
			case *array.Date32:
				b = append(b, '"')
				b = a.Value(r).ToTime().AppendFormat(b, time.DateOnly)
				b = append(b, '"')
			default:
				v, _ := json.Marshal(col.GetOneForMarshal(r))
				b = append(b, v...)
			}
		}
		b = append(b, '}', '\n')
	}
	return b
}

// ipcBody renders rec as an Arrow IPC stream.
func ipcBody(rec arrow.RecordBatch) ([]byte, error) {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(rec.Schema()))
	if err := w.Write(rec); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
