package cli

import (
	"encoding/json"
	"io"
	"strings"
	"time"
)

// stderrLines is where hookshim's own error, hint and warning lines go: as
// console text (escapedLines), or in log format "json" (--log-format json or
// HOOKSHIM_LOG_FORMAT=json) as one JSON object per line, like the log, so a
// collector that parses stderr as JSON never meets a plain line.
func stderrLines(p Process, format string) io.Writer {
	if format == "json" {
		return jsonLines{p.Stderr}
	}
	return escapedLines{p.Stderr}
}

// logFormatArg is the --log-format on the command line (before any `--`),
// else HOOKSHIM_LOG_FORMAT: read from the arguments, since an error in
// parsing them must be printed in the format they ask for.
func logFormatArg(args []string, p Process) string {
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		name, value, eq := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "log-format" {
			continue
		}
		if eq {
			return value
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return p.Getenv("HOOKSHIM_LOG_FORMAT")
}

// jsonLines turns each "hookshim: LEVEL: message" line (one per Write, as
// exitcode.Report writes them) into {"level":...,"time":...,"message":...}:
// level "error" and "warn" as in the log, "hint" for a hint that belongs
// to the error before it, "info" for a line with no level.
type jsonLines struct{ w io.Writer }

func (j jsonLines) Write(p []byte) (int, error) {
	line := strings.TrimSuffix(string(p), "\n")
	line = strings.TrimPrefix(line, "hookshim: ")
	level := "info"
	for _, l := range []string{"error", "hint", "warn", "debug"} {
		if rest, ok := strings.CutPrefix(line, l+": "); ok {
			level, line = l, rest
			break
		}
	}
	out, err := json.Marshal(struct {
		Level   string `json:"level"`
		Time    string `json:"time"`
		Message string `json:"message"`
	}{level, time.Now().Format(time.RFC3339), line})
	if err != nil {
		return 0, err
	}
	if _, err := j.w.Write(append(out, '\n')); err != nil {
		return 0, err
	}
	return len(p), nil
}
