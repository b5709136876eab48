package lockfile

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxDetailsSize bounds how much of a details file is read. Kamal writes about
// 160 bytes; anything past this is not a Kamal lock and is not read further.
const MaxDetailsSize = 64 << 10

// AutomaticMessage is the message Kamal writes when a Kamal command takes the
// lock for itself; any other message means a person ran `kamal lock acquire -m`.
const AutomaticMessage = "Automatic deploy lock"

// TimeLayout is Ruby's Time#iso8601 for a UTC time, as Kamal writes it.
const TimeLayout = "2006-01-02T15:04:05Z"

// Details is the decoded content of a lock's details file.
type Details struct {
	LockedBy string    // git user.name of the deployer, or "Unknown"
	At       time.Time // when the lock was taken; zero when AtText does not parse
	AtText   string    // the time as written
	Version  string    // the version being deployed
	Message  string    // AutomaticMessage, a manual message, or a hookshim hold
}

// Errors Parse returns, wrapped with specifics.
var (
	ErrTooLarge   = errors.New("details file is too large to be Kamal's")
	ErrNotBase64  = errors.New("details file is not base64")
	ErrNotDetails = errors.New("details file does not hold Kamal lock details")
)

// Parse decodes a details file as Kamal writes it: Ruby's Base64.encode64 (a
// newline every 60 characters) plus echo's newline. All whitespace in the base64
// text is ignored, and missing trailing lines are tolerated. The name may contain
// spaces, non-ASCII letters and " at " itself: the last " at " separates the time.
func Parse(raw []byte) (Details, error) {
	if len(raw) > MaxDetailsSize {
		return Details{}, fmt.Errorf("%w (%d bytes or more; Kamal writes about 160)", ErrTooLarge, len(raw))
	}
	compact := make([]byte, 0, len(raw))
	for _, b := range raw {
		switch b {
		case ' ', '\t', '\n', '\r', '\v', '\f':
		default:
			compact = append(compact, b)
		}
	}
	if len(compact) == 0 {
		return Details{}, fmt.Errorf("%w: it is empty", ErrNotDetails)
	}
	text, err := decodeBase64(compact)
	if err != nil {
		return Details{}, fmt.Errorf("%w: %v", ErrNotBase64, err)
	}
	return ParseText(text)
}

// decodeBase64 accepts padded and unpadded standard base64, as Ruby's lenient
// decode64 and coreutils' base64 -d both read Kamal's files.
func decodeBase64(b []byte) ([]byte, error) {
	out := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
	n, err := base64.StdEncoding.Decode(out, b)
	if err == nil {
		return out[:n], nil
	}
	unpadded := bytes.TrimRight(b, "=")
	out = make([]byte, base64.RawStdEncoding.DecodedLen(len(unpadded)))
	if n, err2 := base64.RawStdEncoding.Decode(out, unpadded); err2 == nil {
		return out[:n], nil
	}
	return nil, err
}

// ParseText parses decoded details: "Locked by: NAME at TIME", "Version: V",
// "Message: M", in that order, with later lines optional.
func ParseText(text []byte) (Details, error) {
	if !utf8.Valid(text) {
		text = bytes.ToValidUTF8(text, []byte("\uFFFD"))
	}
	lines := strings.Split(strings.TrimRight(string(text), "\n"), "\n")
	first, ok := strings.CutPrefix(lines[0], "Locked by: ")
	if !ok {
		return Details{}, fmt.Errorf("%w: first line is %q, want \"Locked by: NAME at TIME\"", ErrNotDetails, clip(lines[0], 60))
	}
	var d Details
	if i := strings.LastIndex(first, " at "); i >= 0 {
		d.LockedBy, d.AtText = first[:i], first[i+len(" at "):]
		if t, err := time.Parse(time.RFC3339, d.AtText); err == nil {
			d.At = t.UTC()
		}
	} else {
		d.LockedBy = first
	}
	// Kamal strips the text before encoding, so an empty message ends the file
	// as "Message:" with no space after it.
	seenVersion, seenMessage := false, false
	for _, line := range lines[1:] {
		if v, ok := cutField(line, "Version:"); ok && !seenVersion && !seenMessage {
			d.Version, seenVersion = v, true
		} else if v, ok := cutField(line, "Message:"); ok && !seenMessage {
			d.Message, seenMessage = v, true
		} else if seenMessage {
			// Kamal writes the message verbatim; a message with newlines spans lines.
			d.Message += "\n" + line
		}
	}
	return d, nil
}

// cutField reads "Key: value", tolerating a missing space after the colon.
func cutField(line, key string) (string, bool) {
	v, ok := strings.CutPrefix(line, key)
	if !ok {
		return "", false
	}
	return strings.TrimPrefix(v, " "), true
}

// Text renders details exactly as Kamal does before encoding: three lines,
// stripped of trailing whitespace (Ruby's String#strip), no trailing newline.
func (d Details) Text() string {
	at := d.AtText
	if !d.At.IsZero() {
		at = d.At.UTC().Format(TimeLayout)
	}
	return strings.TrimRight(fmt.Sprintf("Locked by: %s at %s\nVersion: %s\nMessage: %s", d.LockedBy, at, d.Version, d.Message), " \t\n\r\v\f")
}

// Encode64 is Ruby's Base64.encode64: standard base64 with a newline after every
// 60 characters and at the end.
func Encode64(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	var sb strings.Builder
	for len(s) > 60 {
		sb.WriteString(s[:60])
		sb.WriteByte('\n')
		s = s[60:]
	}
	sb.WriteString(s)
	sb.WriteByte('\n')
	return sb.String()
}

// FileContent is the details file, byte for byte, as Kamal's
// `echo "<encode64>" > details` leaves it.
func (d Details) FileContent() []byte { return []byte(Encode64([]byte(d.Text())) + "\n") }

// IsAutomatic reports whether a Kamal command took the lock for itself.
func (d Details) IsAutomatic() bool { return d.Message == AutomaticMessage }

// KamalWaitsFor reports whether Kamal 2.12's --lock-wait waits for this lock
// rather than giving up at once as on a manual one: its status text contains
// AutomaticMessage anywhere (a substring test; Kamal 2.12
// lib/kamal/cli/base.rb, acquire_lock_with_wait). Kamal's automatic locks and
// hookshim's holds do; a `kamal lock acquire -m` lock, as a rule, does not.
func (d Details) KamalWaitsFor() bool { return strings.Contains(d.Text(), AutomaticMessage) }

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
