package registry

import "time"

// SetKeysClock replaces the clock k's cache of valid keys is timed by.
func SetKeysClock(k *Keys, clock func() time.Time) { k.clock = clock }
