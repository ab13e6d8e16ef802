package arrowexec

import (
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

func errOverflow(what string) error {
	return sqlstate.Errorf(sqlstate.NumericOutOfRange, "%s out of range", what)
}

func errDivByZero() error {
	return sqlstate.Errorf(sqlstate.DivisionByZero, "division by zero")
}

func errMismatch(format string, args ...any) error {
	return sqlstate.Errorf(sqlstate.DatatypeMismatch, format, args...)
}
