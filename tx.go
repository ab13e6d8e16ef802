package mantisdb

import (
	"context"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/oltp"
	"github.com/mantisdb/mantisdb/planner"
)

// txState is the life cycle of a Tx.
type txState uint8

const (
	txActive txState = iota
	txFailed         // a statement failed; only Rollback (or Commit, which rolls back) is left
	txDone           // committed or rolled back
)

// Tx is an explicit transaction under snapshot isolation (see
// docs/transactions.md). Its statements read the database as of Begin plus
// the transaction's own writes; its writes become visible to others, all
// together, when Commit returns nil.
//
// A Tx is not safe for concurrent use: run one statement at a time. A
// statement that fails (any error, including a lost write-write conflict,
// 40001, or a deadlock, 40P01) aborts the transaction: every later statement
// fails with SQLSTATE 25P02 until Rollback, and Commit then rolls back and
// returns that error too. Schema changes (CREATE/DROP TABLE, CREATE TABLE
// AS, TRUNCATE, ALTER TABLE, CREATE/DROP VIEW, CREATE/DROP INDEX) are
// refused inside a transaction with SQLSTATE 25001 and abort it.
type Tx struct {
	db *DB
	// mu serialises the Tx's calls with DB.Close, which rolls back
	// transactions left open.
	mu    sync.Mutex
	tx    *oltp.Txn
	v     *version // the segments tx's snapshot reads; released at the end
	state txState
	cause error   // the error that failed the transaction
	rows  []*Rows // open results of the transaction's queries
}

func (db *DB) beginTx(ctx context.Context) (*Tx, error) {
	if err := ctx.Err(); err != nil {
		return nil, sqlstate.Wrap(err, sqlstate.QueryCanceled, "canceling statement: %v", err)
	}
	if err := db.begin(); err != nil {
		return nil, err
	}
	defer db.running.Done()
	t := &Tx{db: db}
	t.tx, t.v = db.beginTxn()
	if err := db.store.WaitDurable(); err != nil {
		t.tx.Rollback()
		db.tiers.release(t.v)
		return nil, err
	}
	db.txMu.Lock()
	db.txs[t] = struct{}{}
	db.txMu.Unlock()
	return t, nil
}

// enter starts one call of the transaction: it locks t and checks its
// state. On success the caller calls t.leave.
func (t *Tx) enter() error {
	if err := t.db.begin(); err != nil {
		return err
	}
	t.mu.Lock()
	switch t.state {
	case txDone:
		t.leave()
		return sqlstate.Errorf(sqlstate.InvalidTxnState, "transaction is already committed or rolled back")
	case txFailed:
		t.leave()
		return sqlstate.Wrap(t.cause, sqlstate.InFailedSQLTransaction,
			"current transaction is aborted, commands ignored until end of transaction block")
	}
	return nil
}

func (t *Tx) leave() {
	t.mu.Unlock()
	t.db.running.Done()
}

// fail marks t failed by err and returns err.
func (t *Tx) fail(err error) error {
	if err != nil && t.state == txActive {
		t.state = txFailed
		t.cause = err
	}
	return err
}

func (t *Tx) prepare(ctx context.Context, text string) (*Stmt, error) {
	if err := t.enter(); err != nil {
		return nil, err
	}
	defer t.leave()
	p, err := t.db.plans.Prepare(text, t.db.cat)
	if err != nil {
		return nil, t.fail(err)
	}
	return &Stmt{stmtImpl{db: t.db, text: text, p: p, tx: t}}, nil
}

// checkKind refuses statements that cannot run in a transaction.
func checkKind(p *planner.Prepared) error {
	switch p.Kind {
	case planner.KindCreateTable, planner.KindDropTable, planner.KindCreateView, planner.KindDropView,
		planner.KindTruncate, planner.KindCreateTableAs, planner.KindAlterTable, planner.KindCreateIndex,
		planner.KindDropIndex:
		return sqlstate.Errorf(sqlstate.ActiveSQLTransaction, "%s cannot run inside a transaction block; COMMIT or ROLLBACK first", p.Kind)
	}
	return nil
}

func (t *Tx) exec(ctx context.Context, s *Stmt) (int64, error) {
	if err := t.enter(); err != nil {
		return 0, err
	}
	defer t.leave()
	p, err := s.plan()
	if err == nil {
		err = checkKind(p)
	}
	if err != nil {
		return 0, t.fail(err)
	}
	if !p.ReturnsRows() {
		n, err := t.db.writeIn(ctx, t.tx, t.v, p)
		return n, t.fail(err)
	}
	op, err := build(ctx, p, txnProvider{t.db, t.tx, t.v})
	if err != nil {
		return 0, t.fail(err)
	}
	defer op.Close()
	if err := op.Open(t.db.execCtx(ctx)); err != nil {
		return 0, t.fail(err)
	}
	for {
		rec, err := op.Next()
		if err != nil || rec == nil {
			return 0, t.fail(err)
		}
	}
}

func (t *Tx) query(ctx context.Context, s *Stmt) (*Rows, error) {
	p, err := s.plan()
	if err != nil {
		if e := t.enter(); e != nil {
			return nil, e
		}
		defer t.leave()
		return nil, t.fail(err)
	}
	if !p.ReturnsRows() {
		if _, err := t.exec(ctx, s); err != nil {
			return nil, err
		}
		return &Rows{rowsImpl{sch: p.Schema, done: true}}, nil
	}
	if err := t.enter(); err != nil {
		return nil, err
	}
	defer t.leave()
	ctx, pool := t.db.recycling(ctx, p)
	op, err := build(ctx, p, txnProvider{t.db, t.tx, t.v})
	if err == nil {
		err = op.Open(t.db.execCtx(ctx))
	}
	if err != nil {
		if op != nil {
			_ = op.Close()
		}
		if pool != nil {
			pool.Close()
		}
		return nil, t.fail(err)
	}
	// The Rows counts as a running statement of the DB until closed, like
	// any query's; it reads scanners of the Txn, so Commit and Rollback
	// close it first.
	t.db.running.Add(1)
	r := &Rows{rowsImpl{sch: p.Schema, op: op, db: t.db, pool: pool}}
	t.rows = append(t.rows, r)
	return r, nil
}

func (t *Tx) ingest(ctx context.Context, table string, rdr array.RecordReader) (int64, error) {
	if err := t.enter(); err != nil {
		return 0, err
	}
	defer t.leave()
	n, err := t.db.ingestIn(ctx, t.tx, table, rdr)
	return n, t.fail(err)
}

// closeRowsLocked closes the open results of t's queries.
func (t *Tx) closeRowsLocked() {
	for _, r := range t.rows {
		_ = r.Close()
	}
	t.rows = nil
}

// endLocked finishes t: it closes its results and forgets it.
func (t *Tx) endLocked() {
	t.closeRowsLocked()
	t.state = txDone
	t.db.tiers.release(t.v)
	t.v = nil
	t.db.txMu.Lock()
	delete(t.db.txs, t)
	t.db.txMu.Unlock()
}

func (t *Tx) commit(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch t.state {
	case txDone:
		return sqlstate.Errorf(sqlstate.InvalidTxnState, "transaction is already committed or rolled back")
	case txFailed:
		t.tx.Rollback()
		t.endLocked()
		return sqlstate.Wrap(t.cause, sqlstate.InFailedSQLTransaction,
			"transaction was aborted by an earlier error and has been rolled back: %v", t.cause)
	}
	t.closeRowsLocked()
	err := t.tx.Commit(ctx)
	t.endLocked()
	return err
}

func (t *Tx) rollback() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state == txDone {
		return
	}
	t.closeRowsLocked()
	t.tx.Rollback()
	t.endLocked()
}

// control is a transaction control statement recognised by a Session.
type control uint8

const (
	ctlNone control = iota
	ctlBegin
	ctlCommit
	ctlRollback
)

// classify recognises the transaction control statements of a Session:
// BEGIN [WORK | TRANSACTION], START TRANSACTION, COMMIT [WORK |
// TRANSACTION], END [WORK | TRANSACTION] and ROLLBACK [WORK | TRANSACTION],
// case-insensitive, with comments, white space and one trailing semicolon
// around them. Other statements starting with these words (savepoints,
// isolation levels, access modes) fail with FeatureNotSupported; every
// other statement is ctlNone and goes to the SQL planner. It is a small
// scanner rather than a parse because it runs before every statement.
func classify(text string) (control, error) {
	words := leadingWords(text, 4)
	if len(words) == 0 {
		return ctlNone, nil
	}
	var c control
	rest := words[1:]
	switch words[0] {
	case "begin":
		c = ctlBegin
	case "start":
		if len(rest) == 0 || rest[0] != "transaction" {
			return ctlNone, nil
		}
		c, rest = ctlBegin, rest[1:]
	case "commit", "end":
		c = ctlCommit
	case "rollback", "abort":
		c = ctlRollback
	default:
		return ctlNone, nil
	}
	if len(rest) > 0 && (rest[0] == "work" || rest[0] == "transaction") {
		rest = rest[1:]
	}
	if len(rest) > 0 {
		return ctlNone, sqlstate.Errorf(sqlstate.FeatureNotSupported,
			"unsupported transaction statement %q: only BEGIN, START TRANSACTION, COMMIT and ROLLBACK without options are supported", strings.TrimSpace(text))
	}
	return c, nil
}

// leadingWords returns up to max lower-cased words of text, skipping
// comments and white space; a word is a run of letters, and any other
// character is returned as a word of its own, except a final semicolon.
func leadingWords(text string, max int) []string {
	var out []string
	i := 0
	for i < len(text) && len(out) < max {
		c := text[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case strings.HasPrefix(text[i:], "--"):
			for i < len(text) && text[i] != '\n' {
				i++
			}
		case strings.HasPrefix(text[i:], "/*"):
			end := strings.Index(text[i+2:], "*/")
			if end < 0 {
				return out
			}
			i += end + 4
		case c == ';' && strings.TrimSpace(text[i+1:]) == "":
			return out
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(text) && (text[j] >= 'a' && text[j] <= 'z' || text[j] >= 'A' && text[j] <= 'Z' || text[j] == '_') {
				j++
			}
			out = append(out, strings.ToLower(text[i:j]))
			i = j
		default:
			out = append(out, text[i:i+1])
			i++
		}
	}
	return out
}

type sessionImpl struct {
	db *DB
	tx *Tx // the open explicit transaction, or nil
}

func (s *Session) control(ctx context.Context, c control) error {
	switch c {
	case ctlBegin:
		if s.tx != nil {
			// PostgreSQL warns and goes on; there is no warning channel.
			return nil
		}
		t, err := s.db.beginTx(ctx)
		if err != nil {
			return err
		}
		s.tx = t
	case ctlCommit:
		if s.tx == nil {
			return nil
		}
		t := s.tx
		s.tx = nil
		return t.commit(ctx)
	case ctlRollback:
		if s.tx != nil {
			s.tx.rollback()
			s.tx = nil
		}
	}
	return nil
}

func (s *Session) prepare(ctx context.Context, text string) (*Stmt, error) {
	c, err := classify(text)
	if err != nil {
		return nil, err
	}
	if c != ctlNone {
		return &Stmt{stmtImpl{db: s.db, text: text, sess: s, ctl: c}}, nil
	}
	if s.tx != nil {
		st, err := s.tx.prepare(ctx, text)
		if err != nil {
			return nil, err
		}
		st.tx, st.sess = nil, s
		return st, nil
	}
	st, err := s.db.prepare(ctx, text)
	if err != nil {
		return nil, err
	}
	st.sess = s
	return st, nil
}

// txn returns the transaction a statement runs in, or nil for its own.
func (s *Stmt) txn() *Tx {
	if s.tx != nil {
		return s.tx
	}
	if s.sess != nil {
		return s.sess.tx
	}
	return nil
}
