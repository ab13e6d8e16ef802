package sql

import (
	"strings"

	"github.com/dolthub/vitess/go/vt/sqlparser"
)

// Explain is EXPLAIN [ANALYZE] of a statement: Stmt is the bound
// statement explained. With Analyze the statement runs and the plan shows
// what each operator did.
type Explain struct {
	Analyze bool
	Stmt    Statement
}

func (*Explain) statement() {}

func (b *binder) bindExplain(s *sqlparser.Explain) (Statement, error) {
	switch strings.ToLower(s.ExplainFormat) {
	case "", "tree", "traditional":
	default:
		return nil, b.unsupported("EXPLAIN FORMAT=" + s.ExplainFormat)
	}
	if s.Plan {
		return nil, b.unsupported("EXPLAIN PLAN")
	}
	if _, ok := s.Statement.(*sqlparser.Explain); ok {
		return nil, b.unsupported("EXPLAIN of EXPLAIN")
	}
	outer := b.p.Stmt
	b.p.Stmt = s.Statement
	defer func() { b.p.Stmt = outer }()
	st, err := b.bindStatement()
	if err != nil {
		return nil, err
	}
	return &Explain{Analyze: s.Analyze, Stmt: st}, nil
}
