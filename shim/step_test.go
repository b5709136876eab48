package shim

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/lockfile"
)

// hungStore is a lock host that answers the handshake and then never answers
// a look: every Read blocks until its context ends.
type hungStore struct{ lockfile.Local }

func (hungStore) Read(ctx context.Context, _ ...string) ([]lockfile.Lock, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// A look that never answers ends at the step timeout with 69 (the lock is
// unreachable, never free), and the hook is not run.
func TestRunBoundsEveryRemoteLook(t *testing.T) {
	f := newFixture(t, Auto, "echo ran\n")
	f.r.Store = hungStore{lockfile.Local{Root: f.home}}
	f.r.StepTimeout = 50 * time.Millisecond // the bound under test, not a synchronisation
	done := make(chan error, 1)
	go func() { done <- f.r.Run(context.Background()) }()
	select {
	case err := <-done:
		if exitcode.Code(err) != exitcode.Unavailable || !strings.Contains(err.Error(), "no answer within 50ms") {
			t.Fatalf("Run = %v (exit %d), want 69 saying there was no answer within the step timeout", err, exitcode.Code(err))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run still waits on a look that never answers")
	}
	if strings.Contains(f.stdout.String(), "ran") {
		t.Fatal("the hook ran")
	}
}
