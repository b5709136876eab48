package shim

import (
	"time"

	"github.com/hookshim/hookshim/lockfile"
)

// Holder describes who holds a lock, as refusals say it: the holder, since
// when and how long before now, the version and the message (or, without
// details, what is wrong). Locked by, Version and Message are escaped as the
// locks table shows them (termsafe.Clean), ready for a line on a terminal.
func Holder(l lockfile.Lock, now time.Time) string { return holder(l, now) }
