package registry

import "time"

// SetKeysClock replaces the clock k's cache of valid keys is timed by.
func SetKeysClock(k *Keys, clock func() time.Time) { k.clock = clock }

// SetKeysNow replaces the wall clock k judges key expiry by.
func SetKeysNow(k *Keys, now func() time.Time) { k.now = now }
