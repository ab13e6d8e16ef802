package lockmgr_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/lockmgr"
)

// A transaction writes a row: Lock takes the database and table intention
// locks itself, and End releases everything at commit or rollback.
func Example() {
	m := lockmgr.New(nil)
	defer m.Close()

	tx := m.Begin(1)
	if err := tx.Lock(context.Background(), lockmgr.Row(7, []byte("pk-1")), lockmgr.Exclusive); err != nil {
		fmt.Println(err)
		return
	}
	for _, li := range m.Snapshot() {
		fmt.Println(li.Resource, li.Mode, li.Txn)
	}
	tx.End()
	fmt.Println(len(m.Snapshot()), "locks after End")
	// Output:
	// database IX 1
	// table 7 IX 1
	// row 7/"pk-1" X 1
	// 0 locks after End
}

// Two transactions lock two rows in opposite order; the younger one is the
// deadlock victim and gets SQLSTATE 40P01.
func Example_deadlock() {
	m := lockmgr.New(&lockmgr.Options{DeadlockInterval: 10 * time.Millisecond})
	defer m.Close()
	ctx := context.Background()
	a, b := lockmgr.Row(1, []byte("a")), lockmgr.Row(1, []byte("b"))

	older, younger := m.Begin(1), m.Begin(2)
	_ = older.Lock(ctx, a, lockmgr.Exclusive)
	_ = younger.Lock(ctx, b, lockmgr.Exclusive)
	done := make(chan error)
	go func() { done <- older.Lock(ctx, b, lockmgr.Exclusive) }()
	for len(m.Snapshot()) < 7 { // 6 granted + 1 waiting
		time.Sleep(time.Millisecond)
	}
	err := younger.Lock(ctx, a, lockmgr.Exclusive)
	fmt.Println(sqlstate.CodeOf(err), errors.Is(err, lockmgr.ErrDeadlock))
	younger.End() // the victim rolls back ...
	fmt.Println(<-done)
	older.End() // ... and the older transaction goes on.
	// Output:
	// 40P01 true
	// <nil>
}
