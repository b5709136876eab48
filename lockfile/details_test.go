package lockfile

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const fixtureVersion = "d018f90b8de4599db01a44090e61eeb581595c52"

func fixtureFiles(t testing.TB) []string {
	files, err := filepath.Glob("testdata/kamal/*/details-*.raw")
	if err != nil || len(files) < 7 {
		t.Fatalf("want the 7 recorded details files under testdata/kamal, got %d (%v)", len(files), err)
	}
	return files
}

// Every details file recorded from a real Kamal parses, and hookshim's encoder
// reproduces it byte for byte from the parsed fields.
func TestParseRecordedDetails(t *testing.T) {
	for _, f := range fixtureFiles(t) {
		t.Run(f, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			d, err := Parse(raw)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if d.LockedBy != "Hookshim Tester" || d.Version != fixtureVersion {
				t.Errorf("got %+v", d)
			}
			wantMsg := "test"
			if strings.Contains(f, "automatic") {
				wantMsg = AutomaticMessage
			}
			if d.Message != wantMsg || d.IsAutomatic() != (wantMsg == AutomaticMessage) {
				t.Errorf("message %q, want %q", d.Message, wantMsg)
			}
			if d.At.IsZero() || d.At.Year() != 2026 || d.At.Location() != time.UTC {
				t.Errorf("time %q parsed as %v", d.AtText, d.At)
			}
			if got := d.FileContent(); !bytes.Equal(got, raw) {
				t.Errorf("re-encoded details differ from Kamal's:\n got %q\nwant %q", got, raw)
			}
		})
	}
}

// The acquire command Kamal ran carries the same base64 as the file it left.
func TestEncodeMatchesRecordedAcquireCommand(t *testing.T) {
	cmd, err := os.ReadFile("testdata/kamal/v2.12.0/acquire.remote-commands.txt")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile("testdata/kamal/v2.12.0/details-manual-test.raw")
	d, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := `mkdir .kamal/lock-app && echo "` + Encode64([]byte(d.Text())) + `" > .kamal/lock-app/details`
	if !strings.Contains(string(cmd), want) {
		t.Errorf("Kamal's acquire command does not contain %q", want)
	}
}

func encodeText(s string) []byte { return []byte(Encode64([]byte(s)) + "\n") }

func TestParseNamesAndShapes(t *testing.T) {
	tests := []struct {
		name, text       string
		by, at, ver, msg string
	}{
		{"spaces", "Locked by: Anna Maria Schmidt at 2026-11-27T06:00:00Z\nVersion: abc\nMessage: m", "Anna Maria Schmidt", "2026-11-27T06:00:00Z", "abc", "m"},
		{"non-ASCII", "Locked by: Zoë Ødegård 山田 at 2026-11-27T06:00:00Z\nVersion: v\nMessage: m", "Zoë Ødegård 山田", "2026-11-27T06:00:00Z", "v", "m"},
		{"at inside name", "Locked by: Kim at Home at 2026-11-27T06:00:00Z\nVersion: v\nMessage: deploy at noon", "Kim at Home", "2026-11-27T06:00:00Z", "v", "deploy at noon"},
		{"no version or message", "Locked by: Unknown at 2026-11-27T06:00:00Z", "Unknown", "2026-11-27T06:00:00Z", "", ""},
		{"no message", "Locked by: a at 2026-11-27T06:00:00Z\nVersion: v\n", "a", "2026-11-27T06:00:00Z", "v", ""},
		{"no time", "Locked by: someone\nVersion: v\nMessage: m", "someone", "", "v", "m"},
		{"empty message, stripped as Kamal does", "Locked by: a at 2026-11-27T06:00:00Z\nVersion: v\nMessage:", "a", "2026-11-27T06:00:00Z", "v", ""},
		{"empty name (git has no user.name)", "Locked by:  at 2026-11-27T06:00:00Z\nVersion: v\nMessage: m", "", "2026-11-27T06:00:00Z", "v", "m"},
		{"multi-line message", "Locked by: a at 2026-11-27T06:00:00Z\nVersion: v\nMessage: one\ntwo", "a", "2026-11-27T06:00:00Z", "v", "one\ntwo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse(encodeText(tt.text))
			if err != nil {
				t.Fatal(err)
			}
			if d.LockedBy != tt.by || d.AtText != tt.at || d.Version != tt.ver || d.Message != tt.msg {
				t.Errorf("got by=%q at=%q ver=%q msg=%q", d.LockedBy, d.AtText, d.Version, d.Message)
			}
		})
	}
}

// A reader must ignore all whitespace: Ruby wraps at 60, others at 76, some not at all.
func TestParseIgnoresWhitespace(t *testing.T) {
	text := "Locked by: a at 2026-11-27T06:00:00Z\nVersion: v\nMessage: m"
	one := base64.StdEncoding.EncodeToString([]byte(text))
	for _, raw := range []string{one, one + "\n", " " + one[:10] + "\r\n\t" + one[10:] + "\n\n", strings.TrimRight(one, "=")} {
		d, err := Parse([]byte(raw))
		if err != nil || d.LockedBy != "a" || d.Message != "m" {
			t.Errorf("Parse(%q) = %+v, %v", raw, d, err)
		}
	}
}

func TestParseBadInput(t *testing.T) {
	tests := []struct {
		name string
		raw  []byte
		want error
	}{
		{"empty", nil, ErrNotDetails},
		{"whitespace only", []byte(" \n\n"), ErrNotDetails},
		{"binary", []byte{0, 1, 2, 0xff, 0xfe, '\n'}, ErrNotBase64},
		{"invalid base64", []byte("not base64 at all!!"), ErrNotBase64},
		{"base64 of garbage", []byte(base64.StdEncoding.EncodeToString([]byte{0xff, 0, 0x80, 'x'})), ErrNotDetails},
		{"base64 of other text", encodeText("hello world"), ErrNotDetails},
		{"10 MB", bytes.Repeat([]byte("QUFB"), 10<<20/4), ErrTooLarge},
		// Valid details, but past the bound: not read as a lock, however
		// harmless the rest (whitespace, which Parse otherwise skips).
		{"valid details past MaxDetailsSize", append(Details{LockedBy: "Ann", Message: "m"}.FileContent(), bytes.Repeat([]byte("\n"), MaxDetailsSize)...), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.raw)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse error = %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestHoldMessageRoundTrip(t *testing.T) {
	h := Hold{Hook: "post-deploy", Token: NewToken(), Host: "ci-runner-7", User: "deploy", PID: 4242}
	got, ok := ParseHold(h.Message())
	if !ok || got != h {
		t.Fatalf("ParseHold(%q) = %+v, %v", h.Message(), got, ok)
	}
	if !HeldBy(h.Message(), h.Token) || HeldBy(h.Message(), "other") || HeldBy(h.Message(), "") {
		t.Error("HeldBy does not check the token")
	}
	// Kamal 2.12's --lock-wait must wait for a hold, as for its own lock.
	if d := (Details{LockedBy: "Ann", Message: h.Message()}); !d.KamalWaitsFor() || d.IsAutomatic() {
		t.Errorf("hold %q: KamalWaitsFor %v, IsAutomatic %v", h.Message(), d.KamalWaitsFor(), d.IsAutomatic())
	}
	// Holds written before the message carried Kamal's phrase still parse.
	old := "hookshim post-deploy hold " + h.Token + " by deploy@ci-runner-7 pid 4242"
	if got, ok := ParseHold(old); !ok || got != h {
		t.Errorf("ParseHold(%q) = %+v, %v", old, got, ok)
	}
	// Holds since hookshim unlock pin the process: start time, session, boot.
	h.Stamp = Stamp{Start: 123456789, SID: 4200, Boot: "6f1c2a3b"}
	if got, ok := ParseHold(h.Message()); !ok || got != h || !HeldBy(h.Message(), h.Token) {
		t.Errorf("ParseHold(%q) = %+v, %v", h.Message(), got, ok)
	}
	for _, m := range []string{AutomaticMessage, "test", "hookshim", "hookshim x hold", "hookshim post-deploy take abc",
		AutomaticMessage + " (hookshim x hold abcdef12 by a@b pid 1", AutomaticMessage + " (manual)"} {
		if _, ok := ParseHold(m); ok {
			t.Errorf("ParseHold(%q) accepted a message that is not a hold", m)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, file := range fixtureFiles(f) {
		raw, _ := os.ReadFile(file)
		f.Add(raw)
	}
	f.Add([]byte{})
	f.Add(encodeText("Locked by: a at b at 2026-11-27T06:00:00Z\nVersion: \nMessage: hookshim x hold t by u@h pid 1"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		d, err := Parse(raw)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error %q", err)
			}
			return
		}
		// What parsed must survive re-encoding when it has no line breaks of its own.
		if strings.ContainsAny(d.LockedBy+d.Version+d.Message+d.AtText, "\n") || d.AtText == "" {
			return
		}
		again, err := Parse(d.FileContent())
		if err != nil {
			t.Fatalf("re-encoded details do not parse: %v", err)
		}
		// Kamal strips the text before encoding: a message's trailing
		// whitespace does not survive, by design.
		if again.LockedBy != d.LockedBy || again.Version != d.Version || again.Message != strings.TrimRight(d.Message, " \t\r\v\f") {
			t.Fatalf("round trip changed %+v into %+v", d, again)
		}
		ParseHold(d.Message)
	})
}

func BenchmarkParse(b *testing.B) {
	raw, err := os.ReadFile("testdata/kamal/v2.12.0/details-automatic.raw")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}
