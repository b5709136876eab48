package cli

import (
	"slices"
	"strings"
	"testing"
)

func TestInterspersed(t *testing.T) {
	app := newApp(Process{})
	for _, tc := range []struct{ in, want string }{
		{"hookshim run post-deploy --policy hold -- true", "hookshim run --policy hold post-deploy -- true"},
		{"hookshim run post-deploy -- true --policy hold", "hookshim run post-deploy -- true --policy hold"},
		{"hookshim run post-deploy a --wait-manual b", "hookshim run --wait-manual post-deploy a b"},
		{"hookshim --log-level debug locks web1", "hookshim locks --log-level debug web1"},
		{"hookshim wait ID --timeout=1s", "hookshim wait --timeout=1s ID"},
		{"hookshim nosuch --x y", "hookshim nosuch --x y"},
		{"hookshim --version", "hookshim --version"},
	} {
		got := strings.Join(interspersed(app, strings.Fields(tc.in)), " ")
		if got != tc.want {
			t.Errorf("interspersed(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzInterspersed: the reordering never loses, adds or changes an argument,
// and never touches anything from the first "--" on.
func FuzzInterspersed(f *testing.F) {
	f.Add("run post-deploy --policy hold -- true")
	f.Add("--log-level debug locks --json web1")
	f.Add("install --hooks .kamal/hooks --hook -- --all")
	app := newApp(Process{})
	f.Fuzz(func(t *testing.T, line string) {
		args := append([]string{"hookshim"}, strings.Fields(line)...)
		got := interspersed(app, slices.Clone(args))
		a, b := slices.Clone(args), slices.Clone(got)
		slices.Sort(a)
		slices.Sort(b)
		if !slices.Equal(a, b) {
			t.Fatalf("interspersed(%q) = %q: not the same arguments", args, got)
		}
		// A "--" right after a flag may be that flag's value (as in Go's flag).
		if i := slices.Index(args, "--"); i >= 0 && !strings.HasPrefix(args[i-1], "-") {
			tail := args[i:]
			if j := slices.Index(got, "--"); j < 0 || !slices.Equal(got[j:], tail) {
				t.Fatalf("interspersed(%q) = %q: changed what follows --", args, got)
			}
		}
	})
}

// FuzzSplitBeforeCommand: the words before the command's name, the name and
// the rest are the command line, in order, nothing lost or added, so that the
// line a misplaced flag's hint suggests holds every word the user typed.
func FuzzSplitBeforeCommand(f *testing.F) {
	f.Add("--host web1 locks --json")
	f.Add("--log-level debug -d staging unlock --root home .kamal/lock-app")
	f.Add("--policy hold -- run")
	f.Add("--older-than")
	app := newApp(Process{})
	f.Fuzz(func(t *testing.T, line string) {
		args := append([]string{"hookshim"}, strings.Fields(line)...)
		before, flags, name, rest := splitBeforeCommand(app, args)
		got := slices.Clone(before)
		if name != "" {
			got = append(got, name)
		}
		got = append(got, rest...)
		if !slices.Equal(got, args[1:]) {
			t.Fatalf("splitBeforeCommand(%q) = %q, %q, %q: not the command line", args, before, name, rest)
		}
		if len(flags) > len(before) || name != "" && strings.HasPrefix(name, "-") && name != "-" {
			t.Fatalf("splitBeforeCommand(%q): flags %q, name %q", args, flags, name)
		}
	})
}
