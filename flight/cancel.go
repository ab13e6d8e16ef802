package flight

import (
	"context"
	"sync"

	arrowflight "github.com/apache/arrow-go/v18/arrow/flight"
	pb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Kinds of tickets in running-query keys.
const (
	statementTicketKind byte = 's'
	preparedTicketKind  byte = 'p'
)

// runningKey is the key of the DoGets of a ticket: its kind and the handle
// inside it (the statement ticket or the prepared statement handle).
func runningKey(kind byte, handle []byte) string {
	return string(kind) + string(handle)
}

// runningQueries keeps the cancel functions of running DoGets by ticket, so
// that CancelFlightInfo can end them. It is safe for concurrent use.
type runningQueries struct {
	mu    sync.Mutex
	next  uint64
	byKey map[string]map[uint64]context.CancelFunc
}

func newRunningQueries() *runningQueries {
	return &runningQueries{byKey: make(map[string]map[uint64]context.CancelFunc)}
}

// add registers a running query and returns the function that unregisters
// it.
func (r *runningQueries) add(key string, cancel context.CancelFunc) func() {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := r.next
	r.next++
	m := r.byKey[key]
	if m == nil {
		m = make(map[uint64]context.CancelFunc)
		r.byKey[key] = m
	}
	m[id] = cancel
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(m, id)
		if len(m) == 0 && r.byKey[key] != nil && len(r.byKey[key]) == 0 {
			delete(r.byKey, key)
		}
	}
}

// cancel cancels every running query of key and returns how many.
func (r *runningQueries) cancel(key string) int {
	r.mu.Lock()
	m := r.byKey[key]
	fns := make([]context.CancelFunc, 0, len(m))
	for _, fn := range m {
		fns = append(fns, fn)
	}
	r.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
	return len(fns)
}

// ticketKey returns the running-query key of a ticket of this server, or
// false for a ticket it did not make.
func ticketKey(t *arrowflight.Ticket) (string, bool) {
	if t == nil {
		return "", false
	}
	var a anypb.Any
	if err := proto.Unmarshal(t.GetTicket(), &a); err != nil {
		return "", false
	}
	m, err := a.UnmarshalNew()
	if err != nil {
		return "", false
	}
	switch m := m.(type) {
	case *pb.TicketStatementQuery:
		return runningKey(statementTicketKind, m.GetStatementHandle()), true
	case *pb.CommandPreparedStatementQuery:
		return runningKey(preparedTicketKind, m.GetPreparedStatementHandle()), true
	}
	return "", false
}

// CancelFlightInfo cancels the running DoGets of the FlightInfo's tickets:
// their streams end with Canceled. It answers CANCELLED when it cancelled a
// query and NOT_CANCELLABLE when none was running (a ticket can be redeemed
// again later: cancelling does not invalidate it).
func (s *sqlServer) CancelFlightInfo(_ context.Context, req *arrowflight.CancelFlightInfoRequest) (arrowflight.CancelFlightInfoResult, error) {
	n := 0
	for _, ep := range req.GetInfo().GetEndpoint() {
		if key, ok := ticketKey(ep.GetTicket()); ok {
			n += s.running.cancel(key)
		}
	}
	if n == 0 {
		return arrowflight.CancelFlightInfoResult{Status: arrowflight.CancelStatusNotCancellable}, nil
	}
	return arrowflight.CancelFlightInfoResult{Status: arrowflight.CancelStatusCancelled}, nil
}
