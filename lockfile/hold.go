package lockfile

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// Hold is what hookshim writes in a lock's message when it takes the lock for a
// hook:
//
//	Automatic deploy lock (hookshim HOOK hold TOKEN by USER@HOST pid PID start TICKS sid SID boot BOOT)
//
// Kamal shows it in `kamal lock status`, and a leftover can be traced to the
// process that left it. The message contains AutomaticMessage because Kamal
// 2.12's --lock-wait waits only on a lock whose status text contains that phrase
// and gives up at once on any other (lib/kamal/cli/base.rb,
// acquire_lock_with_wait): a deploy started with --lock-wait while a hook runs
// under a hold must wait for it, not fail. Holds written by hookshim before
// this, "hookshim HOOK hold TOKEN by USER@HOST pid PID", are read too.
//
// start, sid and boot (since hookshim unlock) let `hookshim unlock` prove on
// the deployer machine that the hold's process is gone rather than its pid
// reused: see internal/liveness. Holds without them parse with zero values.
type Hold struct {
	Hook  string
	Token string
	Host  string // the deployer machine's hostname
	User  string // the deployer's login name
	PID   int
	Stamp
}

// Stamp pins a hold's process beyond its pid (internal/liveness.Hold): zero
// values mean unknown.
type Stamp struct {
	Start uint64 // the process's start time in clock ticks since boot (/proc/PID/stat field 22)
	SID   int    // its session, which the hook it runs shares
	Boot  string // the first 8 hex digits of the machine's boot_id
}

// NewToken returns a random token that names one hold.
func NewToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ValidToken reports whether s has the shape of a token NewToken makes: hex,
// 8 to 64 characters. Anything else is never matched against a lock.
func ValidToken(s string) bool {
	if len(s) < 8 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// holdPrefix opens a hold's message; holdSuffix closes it.
const (
	holdPrefix = AutomaticMessage + " ("
	holdSuffix = ")"
)

// Message renders the hold as a lock message.
func (h Hold) Message() string {
	stamp := ""
	if h.Start != 0 && h.Boot != "" {
		stamp = fmt.Sprintf(" start %d sid %d boot %s", h.Start, h.SID, h.Boot)
	}
	return fmt.Sprintf("%shookshim %s hold %s by %s@%s pid %d%s%s", holdPrefix, h.Hook, h.Token, h.User, h.Host, h.PID, stamp, holdSuffix)
}

// ParseHold reads a hookshim hold back from a lock message, in the current form
// or the earlier one without the "Automatic deploy lock (...)" around it. It is
// lenient about what follows the token so that older or newer hookshim messages
// still parse.
func ParseHold(message string) (Hold, bool) {
	if inner, ok := strings.CutPrefix(message, holdPrefix); ok {
		if message, ok = strings.CutSuffix(inner, holdSuffix); !ok {
			return Hold{}, false
		}
	}
	f := strings.Fields(message)
	if len(f) < 4 || f[0] != "hookshim" || f[2] != "hold" || f[3] == "" {
		return Hold{}, false
	}
	h := Hold{Hook: f[1], Token: f[3]}
	for i := 4; i+1 < len(f); i++ {
		switch f[i] {
		case "by":
			if u, host, ok := strings.Cut(f[i+1], "@"); ok {
				h.User, h.Host = u, host
			} else {
				h.Host = f[i+1]
			}
		case "pid":
			h.PID, _ = strconv.Atoi(f[i+1])
		case "start":
			h.Start, _ = strconv.ParseUint(f[i+1], 10, 64)
		case "sid":
			h.SID, _ = strconv.Atoi(f[i+1])
		case "boot":
			h.Boot = f[i+1]
		}
	}
	return h, true
}

// HeldBy reports whether the message is a hookshim hold with this token.
func HeldBy(message, token string) bool {
	h, ok := ParseHold(message)
	return ok && ValidToken(token) && h.Token == token
}
