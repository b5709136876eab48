package lockfile

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Audit is one line for Kamal's audit log on the lock host, the file
// `kamal audit` shows (its last 50 lines). Kamal 2.12
// lib/kamal/commands/auditor.rb appends, in the SSH user's home,
//
//	mkdir -p .kamal && echo "[RECORDED_AT] [PERFORMER] [DESTINATION] TEXT" >> .kamal/SERVICE[-DESTINATION]-audit.log
//
// with the tags of lib/kamal/tags.rb: the UTC time as ISO 8601, the
// performer (`git config user.email`, else `whoami`), and the destination
// only when one is used. The zero Audit writes nothing.
type Audit struct {
	File string // relative to the home, e.g. .kamal/app-staging-audit.log
	Line string // the whole line, without its newline
}

// AuditFile is Kamal 2's audit log for a service and destination, relative
// to the SSH user's home.
func AuditFile(service, destination string) string {
	name := service
	if destination != "" {
		name += "-" + destination
	}
	return DefaultRunDir + "/" + name + "-audit.log"
}

// NewAudit renders text as Kamal's auditor does, into File. Control
// characters in the performer and text (a lock message may hold newlines) are
// escaped, so that one record stays one line.
func NewAudit(file string, at time.Time, performer, destination, text string) Audit {
	tags := []string{at.UTC().Format(TimeLayout), performer}
	if destination != "" {
		tags = append(tags, destination)
	}
	var b strings.Builder
	for _, t := range tags {
		fmt.Fprintf(&b, "[%s] ", oneLine(t))
	}
	b.WriteString(oneLine(text))
	return Audit{File: file, Line: b.String()}
}

// oneLine escapes control characters as \xNN (a newline as \n).
func oneLine(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

type auditKey struct{}

// WithAudit returns ctx carrying a, which Acquire and Release append to
// Kamal's audit log in the same step as a successful take or release (the
// same SSH round trip over SSH). A failed append never fails the take or the
// release: the lock matters more than its record.
func WithAudit(ctx context.Context, a Audit) context.Context {
	return context.WithValue(ctx, auditKey{}, a)
}

func auditOf(ctx context.Context) (Audit, bool) {
	a, ok := ctx.Value(auditKey{}).(Audit)
	return a, ok && a.File != ""
}

// auditArgs are the AUDITFILE and AUDITLINE arguments of the acquire and
// release scripts (audit.sh): empty when ctx carries no audit line.
func auditArgs(ctx context.Context) []string {
	a, ok := auditOf(ctx)
	if !ok {
		return []string{"", ""}
	}
	return []string{a.File, a.Line}
}

// appendAudit appends ctx's audit line under root, ignoring errors.
func appendAudit(ctx context.Context, s Local) {
	if a, ok := auditOf(ctx); ok {
		_ = appendLine(s.abs(a.File), a.Line)
	}
}
