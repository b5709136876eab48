package shim

import (
	"context"
	"fmt"

	"github.com/hookshim/hookshim/lockfile"
)

// withHoldAudit makes a hold's take or release (what: "took", "released")
// append a line to Kamal's audit log on the lock host, in the same step, so
// that `kamal audit` shows hookshim's holds beside Kamal's own records.
// Nothing is written when no Performer is set.
func (r *Runner) withHoldAudit(ctx context.Context, what, path, token string) context.Context {
	if r.Performer == nil || r.Spec.Service == "" {
		return ctx
	}
	text := fmt.Sprintf("hookshim %s hold %s %s the deploy lock %s for the %s hook (pid %d)", r.Hook, token, what, path, r.Hook, r.PID)
	a := lockfile.NewAudit(lockfile.AuditFile(r.Spec.Service, r.Spec.Destination), r.Now(), r.Performer(), r.Spec.Destination, text)
	return lockfile.WithAudit(ctx, a)
}
