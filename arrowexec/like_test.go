package arrowexec

import (
	"math/rand/v2"
	"testing"
)

// TestLikeSegments checks the byte-search matcher of '%'-separated
// literals against the general wildcard matcher on random strings and
// patterns over a small alphabet (so that literals recur and overlap).
func TestLikeSegments(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	word := func(n int, alphabet string) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	segments := 0
	for range 20000 {
		p := word(1+rng.IntN(7), "ab%")
		lp, err := compileLike(p, false)
		if err != nil {
			t.Fatal(err)
		}
		if lp.kind == likeSegments {
			segments++
		}
		s := []byte(word(rng.IntN(12), "abc"))
		if got, want := lp.match(s), matchToks(lp.toks, s); got != want {
			t.Fatalf("%q LIKE %q: %v, want %v", s, p, got, want)
		}
	}
	if segments < 1000 {
		t.Errorf("only %d patterns of the segments kind", segments)
	}
}
