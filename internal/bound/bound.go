// Package bound holds the one convention tether's options follow for a
// limit or a timeout: 0 means the package's default, a negative value means
// no bound. Once read, a package holds "no bound" as 0:
//
//	maxSessions := bound.Read(opts.MaxSessionsPerKey, DefaultMaxSessionsPerKey) // 0: unbounded
//
// Command-line flags say "no bound" with 0 instead (their defaults are in
// their definitions); FromFlag turns that into an option's value.
package bound

// None is an option value that asks for no bound.
const None = -1

// Read returns the bound an option asks for: def when n is 0, 0 (no bound)
// when n is negative, else n.
func Read[T ~int | ~int64](n, def T) T {
	switch {
	case n == 0:
		return def
	case n < 0:
		return 0
	}
	return n
}

// FromFlag turns a flag's value into an option's: a flag's 0, no bound,
// becomes None.
func FromFlag(n int) int {
	if n == 0 {
		return None
	}
	return n
}
