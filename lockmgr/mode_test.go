package lockmgr

import "testing"

func TestCompatibilityMatrix(t *testing.T) {
	const y, n = true, false
	modes := []Mode{IntentShared, IntentExclusive, Shared, SharedIntentExclusive, Exclusive}
	want := [][]bool{
		//        IS IX S  SIX X
		/* IS  */ {y, y, y, y, n},
		/* IX  */ {y, y, n, n, n},
		/* S   */ {y, n, y, n, n},
		/* SIX */ {y, n, n, n, n},
		/* X   */ {n, n, n, n, n},
	}
	for i, a := range modes {
		for j, b := range modes {
			if got := Compatible(a, b); got != want[i][j] {
				t.Errorf("Compatible(%s, %s) = %v, want %v", a, b, got, want[i][j])
			}
		}
	}
	if Compatible(0, IntentShared) || Compatible(IntentShared, 0) || Compatible(Mode(9), Shared) {
		t.Error("an invalid mode is compatible with something")
	}
}

// rights models each mode as the set of elementary permissions it grants;
// the supremum of two modes is the weakest mode granting both sets. This
// derives the upgrade table independently of the one in mode.go.
var rights = map[Mode]uint8{
	IntentShared:          0b00001,
	IntentExclusive:       0b00011,
	Shared:                0b00101,
	SharedIntentExclusive: 0b00111,
	Exclusive:             0b11111,
}

func TestSupremum(t *testing.T) {
	modes := []Mode{IntentShared, IntentExclusive, Shared, SharedIntentExclusive, Exclusive}
	weakest := func(need uint8) Mode {
		for _, m := range modes { // modes are listed weakest first
			if rights[m]&need == need {
				return m
			}
		}
		return 0
	}
	for _, a := range modes {
		if got := Supremum(0, a); got != a {
			t.Errorf("Supremum(none, %s) = %s", a, got)
		}
		for _, b := range modes {
			want := weakest(rights[a] | rights[b])
			if got := Supremum(a, b); got != want {
				t.Errorf("Supremum(%s, %s) = %s, want %s", a, b, got, want)
			}
		}
	}
	// The one entry people get wrong.
	if got := Supremum(IntentExclusive, Shared); got != SharedIntentExclusive {
		t.Errorf("Supremum(IX, S) = %s, want SIX", got)
	}
}

func TestModeHelpers(t *testing.T) {
	tests := []struct {
		m      Mode
		name   string
		intent Mode
	}{
		{IntentShared, "IS", IntentShared},
		{IntentExclusive, "IX", IntentExclusive},
		{Shared, "S", IntentShared},
		{SharedIntentExclusive, "SIX", IntentExclusive},
		{Exclusive, "X", IntentExclusive},
	}
	for _, tc := range tests {
		if tc.m.String() != tc.name {
			t.Errorf("%d.String() = %q, want %q", tc.m, tc.m.String(), tc.name)
		}
		if got := intentionFor(tc.m); got != tc.intent {
			t.Errorf("intentionFor(%s) = %s, want %s", tc.m, got, tc.intent)
		}
		// The intention lock on a parent must be compatible with every
		// mode that is compatible with the child's mode at that level.
		if !tc.m.Valid() {
			t.Errorf("%s not valid", tc.m)
		}
	}
	if Mode(0).Valid() || Mode(6).Valid() {
		t.Error("invalid modes reported valid")
	}
	coverTests := []struct {
		parent, child Mode
		want          bool
	}{
		{Exclusive, Exclusive, true},
		{Shared, Shared, true},
		{Shared, IntentShared, true},
		{Shared, Exclusive, false},
		{SharedIntentExclusive, Shared, true},
		{SharedIntentExclusive, Exclusive, false},
		{IntentExclusive, Shared, false},
		{IntentShared, IntentShared, false},
	}
	for _, tc := range coverTests {
		if got := covers(tc.parent, tc.child); got != tc.want {
			t.Errorf("covers(%s, %s) = %v, want %v", tc.parent, tc.child, got, tc.want)
		}
	}
}

func TestResource(t *testing.T) {
	tests := []struct {
		r      Resource
		str    string
		parent Resource
		hasPar bool
	}{
		{Database(), "database", Resource{}, false},
		{Table(7), "table 7", Database(), true},
		{Row(7, []byte("k1")), `row 7/"k1"`, Table(7), true},
	}
	for _, tc := range tests {
		if tc.r.String() != tc.str {
			t.Errorf("String() = %q, want %q", tc.r.String(), tc.str)
		}
		p, ok := tc.r.Parent()
		if ok != tc.hasPar || !p.Equal(tc.parent) {
			t.Errorf("%s.Parent() = %v, %v", tc.r, p, ok)
		}
	}
	if Row(1, []byte("a")).hash() == Row(2, []byte("a")).hash() ||
		Row(1, []byte("a")).hash() == Row(1, []byte("b")).hash() ||
		Table(1).hash() == Row(1, nil).hash() {
		t.Error("distinct resources hash equal")
	}
	if Row(1, []byte("a")).hash() != Row(1, []byte("a")).hash() {
		t.Error("hash is not deterministic")
	}
}
