package jobs

import (
	"errors"
	"testing"
	"time"
)

// A job record on disk is input: any bytes give a job or a CorruptError,
// never a panic, and what decodes survives encoding again unchanged.
func FuzzDecode(f *testing.F) {
	now := time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC)
	good, err := encode(Job{ID: NewID(now), Hook: "post-deploy", State: Waiting, Created: now, Deadline: now.Add(30 * time.Minute)})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"version":1,"id":"x","hook":"../../etc","state":"waiting"}`))
	f.Add([]byte(`{"version":1`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := decode("job.json", b)
		if err != nil {
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a CorruptError", err)
			}
			return
		}
		again, err := encode(j)
		if err != nil {
			t.Fatalf("a decoded record does not encode: %v", err)
		}
		j2, err := decode("job.json", again)
		if err != nil || j2.ID != j.ID || j2.Hook != j.Hook || j2.State != j.State {
			t.Fatalf("round trip changed %+v into %+v (%v)", j, j2, err)
		}
	})
}
