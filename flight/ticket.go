package flight

import (
	"encoding/binary"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// A statement ticket is the statement_handle of a TicketStatementQuery. It
// is self-contained so that DoGet can run the statement again from it:
//
//	byte    ticketMagic
//	byte    ticketVersion
//	uvarint length of the transaction id, then the id (empty today)
//	rest    the SQL text
//
// The version lets a later format (e.g. a server-side handle for results
// that must not be recomputed) coexist with this one.
const (
	ticketMagic   byte = 'M'
	ticketVersion byte = 1
)

// encodeTicket returns the ticket that runs sql in transaction txn (empty
// outside a transaction).
func encodeTicket(txn []byte, sql string) []byte {
	b := make([]byte, 0, 2+binary.MaxVarintLen64+len(txn)+len(sql))
	b = append(b, ticketMagic, ticketVersion)
	b = binary.AppendUvarint(b, uint64(len(txn)))
	b = append(b, txn...)
	return append(b, sql...)
}

// decodeTicket parses a ticket made by encodeTicket. The returned txn
// aliases b.
func decodeTicket(b []byte) (txn []byte, sql string, err error) {
	if len(b) < 2 || b[0] != ticketMagic {
		return nil, "", sqlstate.Errorf(sqlstate.InvalidParameterValue, "invalid statement ticket")
	}
	if b[1] != ticketVersion {
		return nil, "", sqlstate.Errorf(sqlstate.InvalidParameterValue,
			"statement ticket version %d is not supported by this server (version %d)", b[1], ticketVersion)
	}
	b = b[2:]
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return nil, "", sqlstate.Errorf(sqlstate.InvalidParameterValue, "invalid statement ticket")
	}
	b = b[w:]
	return b[:n:n], string(b[n:]), nil
}
