package lockfile_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookshim/hookshim/internal/sshtest"
	"github.com/hookshim/hookshim/lockfile"
)

// Release never removes a lock with another token: not someone else's lock
// (Kamal's, a manual one, one without details, unreadable), not another
// hookshim hold, not a lock that merely mentions the token, and not with a
// token that is a prefix, an extension, a pattern or a shell fragment of the
// real one, nor the empty token. The lock is byte-for-byte untouched each
// time; only the exact token releases hookshim's own hold. Locally and over
// SSH alike.
func TestSecurityReleaseNeverRemovesAnotherToken(t *testing.T) {
	h := sshtest.Start(t, sshtest.Options{})
	local := t.TempDir()
	stores := map[string]struct {
		s    lockfile.Store
		home string
	}{
		"local": {lockfile.Local{Root: local}, local},
		"ssh":   {lockfile.Remote{Host: h.Addr, Runner: lockfile.OnHost(h.Client, h.Target)}, h.Home},
	}
	// A fixed token with letters in it, so that its upper-case form below is
	// always another string (a random one of digits only would not be).
	token := "3f9c2a7b1e4d5f6a7b8c9d0e"
	at := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	hold := func(tok string) []byte {
		m := lockfile.Hold{Hook: "post-deploy", Token: tok, User: "deployer", Host: "ci", PID: 42}.Message()
		return lockfile.Details{LockedBy: "Unknown", At: at, Message: m}.FileContent()
	}
	others := map[string][]byte{
		"kamal":          lockfile.Details{LockedBy: "Anna", At: at, Version: "v1", Message: lockfile.AutomaticMessage}.FileContent(),
		"manual":         lockfile.Details{LockedBy: "Anna", At: at, Version: "v1", Message: "db maintenance"}.FileContent(),
		"other-hold":     hold(lockfile.NewToken()),
		"empty-token":    lockfile.Details{LockedBy: "x", At: at, Message: "hookshim post-deploy hold  by a@b pid 1"}.FileContent(),
		"quotes-token":   lockfile.Details{LockedBy: "Anna", At: at, Version: "v1", Message: "until hookshim post-deploy hold " + token + " by deployer@ci pid 42 is gone"}.FileContent(),
		"token-in-name":  lockfile.Details{LockedBy: "x hold " + token + " y", At: at, Version: "v1", Message: lockfile.AutomaticMessage}.FileContent(),
		"token-in-vers":  lockfile.Details{LockedBy: "x", At: at, Version: "a hold " + token + " b", Message: "manual"}.FileContent(),
		"garbage":        []byte("\x00\xffnot base64 hold " + token + " \n"),
		"no-details":     nil,
		"prefix-of-hold": hold(token + "0"),
	}
	badTokens := []string{"", " ", lockfile.NewToken(), token[:len(token)-1], token + "0", strings.ToUpper(token), ".*", "[0-9a-f]*", "' || true; '", "$(true)", token + "\n", " " + token, "hold " + token, token + " by"}
	ctx := context.Background()
	const p = ".kamal/lock-app"
	put := func(home string, content []byte) {
		t.Helper()
		dir := filepath.Join(home, p)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if content != nil {
			if err := os.WriteFile(filepath.Join(dir, "details"), content, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	untouched := func(home string, content []byte) bool {
		fi, err := os.Stat(filepath.Join(home, p))
		if err != nil || !fi.IsDir() {
			return false
		}
		b, err := os.ReadFile(filepath.Join(home, p, "details"))
		if content == nil {
			return errors.Is(err, os.ErrNotExist)
		}
		return err == nil && bytes.Equal(b, content)
	}
	for name, st := range stores {
		t.Run(name, func(t *testing.T) {
			for kind, content := range others {
				for _, tok := range append(badTokens, token) {
					if kind == "prefix-of-hold" && tok == token+"0" {
						continue // that is this hold's own token
					}
					put(st.home, content)
					err := st.s.Release(ctx, p, tok)
					if err == nil || !untouched(st.home, content) {
						t.Errorf("Release(%q) on a %s lock: err = %v, lock untouched = %v", tok, kind, err, untouched(st.home, content))
					}
				}
			}
			own := hold(token)
			for _, tok := range badTokens {
				put(st.home, own)
				if err := st.s.Release(ctx, p, tok); !errors.Is(err, lockfile.ErrNotOurs) || !untouched(st.home, own) {
					t.Errorf("Release(%q) on hold %s: err = %v, lock untouched = %v", tok, token, err, untouched(st.home, own))
				}
			}
			put(st.home, own)
			if err := st.s.Release(ctx, p, token); err != nil {
				t.Fatalf("Release with the hold's own token: %v", err)
			}
			if _, err := os.Lstat(filepath.Join(st.home, p)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the released lock is still there: %v", err)
			}
		})
	}
}
