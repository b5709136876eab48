package cli

import (
	"github.com/hookshim/hookshim/internal/liveness"
	"github.com/hookshim/hookshim/lockfile"
)

// selfStamp pins this process for a hold's message (lockfile.Stamp): its
// start time, session and the machine's boot. Zero when /proc cannot be read,
// which leaves `hookshim unlock` unable to prove the hold dead, never wrong.
func selfStamp() lockfile.Stamp {
	st, err := liveness.Self()
	boot := liveness.BootID()
	if err != nil || boot == "" {
		return lockfile.Stamp{}
	}
	return lockfile.Stamp{Start: st.Start, SID: st.SID, Boot: boot}
}
