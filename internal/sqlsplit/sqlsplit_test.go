package sqlsplit

import (
	"fmt"
	"strings"
	"testing"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"select 1", []string{"select 1"}},
		{"select 1;", []string{"select 1"}},
		{"select 1; select 2;", []string{"select 1", "select 2"}},
		{" ;; select 1 ;\n;", []string{"select 1"}},
		{"select 'a;b'; select 2", []string{"select 'a;b'", "select 2"}},
		{"select 'it''s;'; x", []string{"select 'it''s;'", "x"}},
		{`select 'it\'s;'; x`, []string{`select 'it\'s;'`, "x"}},
		{`select "a;b" from t; x`, []string{`select "a;b" from t`, "x"}},
		{"select `a;b`; x", []string{"select `a;b`", "x"}},
		{"select 1 -- no; split\n; x", []string{"select 1 -- no; split", "x"}},
		{"select /* ; */ 1; x", []string{"select /* ; */ 1", "x"}},
		{"select 1 - 2; select 3/4;", []string{"select 1 - 2", "select 3/4"}},
		{"select 1;\n-- trailing comment\n", []string{"select 1"}},
		{"/* only a comment */", nil},
		{"insert into t values ('日本;語');", []string{"insert into t values ('日本;語')"}},
	}
	for _, tt := range tests {
		got := Split(tt.in)
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tt.want) {
			t.Errorf("Split(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestSplitterIncremental feeds every script a line at a time and byte by
// byte: the result must not depend on where the input was cut.
func TestSplitterIncremental(t *testing.T) {
	script := "create table t (a int, b varchar);\ninsert into t values (1, 'x;\ny'),\n (2, 'it''s');\n" +
		"select /* multi\nline ; */ a -- c;\nfrom t;\nselect 'unterminated"
	want := Split(script)
	if len(want) != 4 {
		t.Fatalf("whole script: %q", want)
	}
	for _, cut := range []string{"line", "byte"} {
		var s Splitter
		var got []string
		var pieces []string
		if cut == "line" {
			pieces = strings.SplitAfter(script, "\n")
		} else {
			pieces = strings.Split(script, "")
		}
		for _, p := range pieces {
			got = append(got, s.Feed(p)...)
		}
		if p := s.Pending(); p != "" {
			got = append(got, p)
		}
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
			t.Errorf("by %s: %q, want %q", cut, got, want)
		}
	}
}
