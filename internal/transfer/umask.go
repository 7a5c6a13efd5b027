package transfer

import "sync/atomic"

// createMask is SetCreateMask's mask.
var createMask atomic.Uint32

// SetCreateMask makes every receiver of this process clear the bits of
// mask from the modes a peer sends, as a file created under that umask
// would have them (scp does the same). A root daemon's file helper sets
// the account's umask (docs/SECURITY.md, "Accounts"); the daemon itself
// keeps the modes as sent (mask 0, the default).
func SetCreateMask(mask uint32) { createMask.Store(mask & modeMask) }

// CreateMask is the mask SetCreateMask set.
func CreateMask() uint32 { return createMask.Load() }
