package lockmgr

// Mode is a lock mode of the multiple-granularity locking protocol (Gray et
// al., "Granularity of Locks and Degrees of Consistency", 1976). The zero
// Mode is not a valid request; it stands for "no lock".
type Mode uint8

const (
	// IntentShared (IS) announces shared locks on finer resources below.
	IntentShared Mode = iota + 1
	// IntentExclusive (IX) announces exclusive (or shared) locks below.
	IntentExclusive
	// Shared (S) reads the resource and everything below it.
	Shared
	// SharedIntentExclusive (SIX) is S plus IX: read everything below and
	// write some of it, with exclusive locks taken below.
	SharedIntentExclusive
	// Exclusive (X) reads and writes the resource and everything below it.
	Exclusive

	numModes = int(Exclusive) + 1
)

var modeNames = [numModes]string{"none", "IS", "IX", "S", "SIX", "X"}

// String returns the usual abbreviation of m: IS, IX, S, SIX or X.
func (m Mode) String() string {
	if int(m) < numModes {
		return modeNames[m]
	}
	return "Mode(invalid)"
}

// Valid reports whether m is one of the five lock modes.
func (m Mode) Valid() bool { return m >= IntentShared && m <= Exclusive }

// modeBit is the bit of m in a modeSet.
func modeBit(m Mode) modeSet { return 1 << m }

// modeSet is a set of modes, one bit per Mode.
type modeSet uint8

// conflicts[m] is the set of modes that m is incompatible with. It encodes
// the standard compatibility matrix (true = compatible):
//
//	        IS   IX   S    SIX  X
//	IS      yes  yes  yes  yes  no
//	IX      yes  yes  no   no   no
//	S       yes  no   yes  no   no
//	SIX     yes  no   no   no   no
//	X       no   no   no   no   no
var conflicts = [numModes]modeSet{
	IntentShared:          modeBit(Exclusive),
	IntentExclusive:       modeBit(Shared) | modeBit(SharedIntentExclusive) | modeBit(Exclusive),
	Shared:                modeBit(IntentExclusive) | modeBit(SharedIntentExclusive) | modeBit(Exclusive),
	SharedIntentExclusive: modeBit(IntentExclusive) | modeBit(Shared) | modeBit(SharedIntentExclusive) | modeBit(Exclusive),
	Exclusive:             modeBit(IntentShared) | modeBit(IntentExclusive) | modeBit(Shared) | modeBit(SharedIntentExclusive) | modeBit(Exclusive),
}

// Compatible reports whether two transactions may hold a and b on the same
// resource at the same time. It is symmetric.
func Compatible(a, b Mode) bool {
	if !a.Valid() || !b.Valid() {
		return false
	}
	return conflicts[a]&modeBit(b) == 0
}

// supremum[a][b] is the weakest mode at least as strong as both a and b in
// the lattice IS < {IX, S} < SIX < X. Its only non-obvious entry is
// sup(IX, S) = SIX.
var supremum = [numModes][numModes]Mode{
	0:                     {0, IntentShared, IntentExclusive, Shared, SharedIntentExclusive, Exclusive},
	IntentShared:          {IntentShared, IntentShared, IntentExclusive, Shared, SharedIntentExclusive, Exclusive},
	IntentExclusive:       {IntentExclusive, IntentExclusive, IntentExclusive, SharedIntentExclusive, SharedIntentExclusive, Exclusive},
	Shared:                {Shared, Shared, SharedIntentExclusive, Shared, SharedIntentExclusive, Exclusive},
	SharedIntentExclusive: {SharedIntentExclusive, SharedIntentExclusive, SharedIntentExclusive, SharedIntentExclusive, SharedIntentExclusive, Exclusive},
	Exclusive:             {Exclusive, Exclusive, Exclusive, Exclusive, Exclusive, Exclusive},
}

// Supremum returns the mode a transaction holds after it requests b on a
// resource it already holds in a: the weakest mode that grants everything
// a and b grant. Supremum(0, b) is b. It is the upgrade rule of the lock
// manager.
func Supremum(a, b Mode) Mode {
	if int(a) >= numModes || int(b) >= numModes {
		return Exclusive
	}
	return supremum[a][b]
}

// intentionFor returns the mode a transaction must hold on every ancestor
// of a resource it locks in mode m: IS for IS and S, IX for the rest.
func intentionFor(m Mode) Mode {
	if m == IntentShared || m == Shared {
		return IntentShared
	}
	return IntentExclusive
}

// covers reports whether holding parent on an ancestor already grants
// child on every resource below it, so that no lock below is needed:
// S and SIX grant reads below, X grants everything.
func covers(parent, child Mode) bool {
	switch parent {
	case Exclusive:
		return true
	case Shared, SharedIntentExclusive:
		return child == Shared || child == IntentShared
	}
	return false
}
