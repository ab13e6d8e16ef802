// Package sqlstate defines the user-facing error of MantisDB: an error that
// carries a stable SQLSTATE-like code, a message a person can act on and, for
// errors in SQL text, the position (line and column, 1-based).
//
// Every package that reports an error caused by client input returns an
// *Error (possibly wrapped); the wire protocols map its Class to gRPC and HTTP
// statuses. Any other error reaching a protocol boundary is an internal error
// (code XX000): it is logged with detail and shown to the client as internal.
package sqlstate

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
)

// Code is a five-character SQLSTATE code.
type Code string

// Codes used by MantisDB. They follow PostgreSQL's assignments so that tools
// that know SQLSTATE recognise them.
const (
	Successful              Code = "00000"
	ParamCountMismatch      Code = "07001"
	FeatureNotSupported     Code = "0A000"
	CardinalityViolation    Code = "21000"
	StringDataTooLong       Code = "22001"
	NumericOutOfRange       Code = "22003"
	InvalidDatetime         Code = "22007"
	DatetimeOverflow        Code = "22008"
	DivisionByZero          Code = "22012"
	InvalidNtileArgument    Code = "22014"
	InvalidLogArgument      Code = "2201E"
	InvalidPowerArgument    Code = "2201F"
	InvalidParameterValue   Code = "22023"
	InvalidText             Code = "22P02"
	InvalidEscapeSequence   Code = "22025"
	NotNullViolation        Code = "23502"
	UniqueViolation         Code = "23505"
	InvalidTxnState         Code = "25000"
	ActiveSQLTransaction    Code = "25001"
	InFailedSQLTransaction  Code = "25P02"
	InvalidStatementName    Code = "26000"
	InvalidAuthorization    Code = "28000"
	InvalidSchemaName       Code = "3F000"
	SerializationFailure    Code = "40001"
	DeadlockDetected        Code = "40P01"
	SyntaxError             Code = "42601"
	InsufficientPrivilege   Code = "42501"
	UndefinedColumn         Code = "42703"
	UndefinedFunction       Code = "42883"
	UndefinedTable          Code = "42P01"
	UndefinedObject         Code = "42704"
	DuplicateTable          Code = "42P07"
	DuplicateColumn         Code = "42701"
	AmbiguousColumn         Code = "42702"
	DatatypeMismatch        Code = "42804"
	IndeterminateDatatype   Code = "42P18"
	GroupingError           Code = "42803"
	WindowingError          Code = "42P20"
	InvalidColumnRef        Code = "42P10"
	InvalidColumnDef        Code = "42611"
	InvalidTableDef         Code = "42P16"
	InvalidObjectDefinition Code = "42P17"
	WrongObjectType         Code = "42809"
	ProgramLimitExceeded    Code = "54000"
	DiskFull                Code = "53100"
	OutOfMemory             Code = "53200"
	TooManyConnections      Code = "53300"
	LockNotAvailable        Code = "55P03"
	QueryCanceled           Code = "57014"
	AdminShutdown           Code = "57P01"
	IOError                 Code = "58030"
	DuplicateFile           Code = "58P02"
	Internal                Code = "XX000"
	DataCorrupted           Code = "XX001"
)

// Class groups codes by how a protocol should answer them.
type Class int

const (
	// ClassInternal is a broken invariant or an unexpected failure.
	ClassInternal Class = iota
	// ClassInvalid is malformed or wrongly typed input (gRPC InvalidArgument, HTTP 400).
	ClassInvalid
	// ClassNotFound names something that does not exist (NotFound, 404).
	ClassNotFound
	// ClassConflict collides with existing data (AlreadyExists, 409).
	ClassConflict
	// ClassUnsupported is valid SQL that MantisDB does not implement (Unimplemented, 501).
	ClassUnsupported
	// ClassRetry is a transient failure the client should retry (Aborted, 409).
	ClassRetry
	// ClassCanceled is a canceled or timed-out statement (Canceled, 499/408).
	ClassCanceled
	// ClassUnavailable means the server cannot serve now (Unavailable, 503).
	ClassUnavailable
	// ClassResource means a limit was exceeded (ResourceExhausted, 413/507).
	ClassResource
	// ClassAuth is missing or wrong credentials (Unauthenticated, 401).
	ClassAuth
	// ClassDenied is an authenticated client without the right (PermissionDenied, 403).
	ClassDenied
)

// Class returns the class of the code.
func (c Code) Class() Class {
	switch c {
	case UndefinedTable, UndefinedColumn, UndefinedFunction, UndefinedObject, InvalidStatementName, InvalidSchemaName:
		return ClassNotFound
	case UniqueViolation, DuplicateTable, DuplicateColumn, DuplicateFile:
		return ClassConflict
	case FeatureNotSupported:
		return ClassUnsupported
	case SerializationFailure, DeadlockDetected, LockNotAvailable:
		return ClassRetry
	case QueryCanceled:
		return ClassCanceled
	case AdminShutdown, IOError:
		return ClassUnavailable
	case ProgramLimitExceeded, DiskFull, OutOfMemory, TooManyConnections:
		return ClassResource
	case InvalidAuthorization:
		return ClassAuth
	case InsufficientPrivilege:
		return ClassDenied
	case Internal, DataCorrupted, "":
		return ClassInternal
	}
	return ClassInvalid
}

// Error is a user-facing error. It is immutable once created.
type Error struct {
	Code    Code
	Message string
	// Line and Column locate the error in the statement text, 1-based; zero
	// when the error has no position.
	Line, Column int
	// Row and Field locate the error in a write's input rows: the row,
	// 1-based from the start of the input (an ingest stream, an INSERT's
	// rows), and the name of the column; zero and empty when the error is
	// not about one row.
	Row   int64
	Field string
	// cause is an optional wrapped error (not shown to clients).
	cause error
}

// Error implements error. The format is "CODE: message" plus the position.
func (e *Error) Error() string {
	switch {
	case e.Line > 0:
		return fmt.Sprintf("%s: %s (at line %d, column %d)", e.Code, e.Message, e.Line, e.Column)
	case e.Row > 0:
		return fmt.Sprintf("%s: %s (row %d, column %q)", e.Code, e.Message, e.Row, e.Field)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the wrapped cause, if any.
func (e *Error) Unwrap() error { return e.cause }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with the code and message that keeps cause for
// errors.Is/As. The cause's text is not part of the message.
func Wrap(cause error, code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), cause: cause}
}

// At returns a copy of e located at line and column of the statement text.
func (e *Error) At(line, column int) *Error {
	c := *e
	c.Line, c.Column = line, column
	return &c
}

// InRow returns a copy of e located at row (1-based) and field of a
// write's input.
func (e *Error) InRow(row int64, field string) *Error {
	c := *e
	c.Row, c.Field = row, field
	return &c
}

// ShiftRows returns err with the row of its *Error, when it has one,
// moved on by before rows: a write that checks its input batch by batch
// finds a row within its batch, and its caller, who knows the rows of the
// batches before, makes it a row of the whole input. Any other error is
// returned as it is.
func ShiftRows(err error, before int64) error {
	e := From(err)
	if e == nil || e.Row == 0 || before == 0 {
		return err
	}
	return e.InRow(e.Row+before, e.Field)
}

// Recover turns a panic into an internal error in *err; deferred first
// thing in a goroutine that a statement starts (a parallel worker, a
// background build or decode), it keeps a bug in one statement from
// ending the process: the servers recover panics of the request's own
// goroutine, not of the ones it starts. The panic's stack is kept in the
// error's cause, not in its message.
func Recover(err *error) {
	if p := recover(); p != nil {
		*err = Wrap(fmt.Errorf("panic: %v\n%s", p, debug.Stack()), Internal, "internal error: %v", p)
	}
}

// PositionAt converts a byte offset in text into a 1-based line and column.
func PositionAt(text string, offset int) (line, column int) {
	if offset > len(text) {
		offset = len(text)
	}
	line, column = 1, 1
	for i := 0; i < offset; i++ {
		if text[i] == '\n' {
			line++
			column = 1
		} else {
			column++
		}
	}
	return line, column
}

// From returns the *Error in err's chain, or nil when there is none.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// CodeOf returns the code of err: the code of its *Error, Successful for nil,
// QueryCanceled for context errors and Internal for anything else.
func CodeOf(err error) Code {
	if err == nil {
		return Successful
	}
	if e := From(err); e != nil {
		return e.Code
	}
	if isContextErr(err) {
		return QueryCanceled
	}
	return Internal
}

// Public converts any error into the *Error shown to a client. An error
// without a code becomes an internal error whose message does not leak
// internal detail beyond err's text.
func Public(err error) *Error {
	if err == nil {
		return nil
	}
	if e := From(err); e != nil {
		return e
	}
	if isContextErr(err) {
		return Wrap(err, QueryCanceled, "canceling statement: %v", err)
	}
	return Wrap(err, Internal, "internal error: %v", err)
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
