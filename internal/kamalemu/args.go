package kamalemu

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// kamalVersion is a Kamal release, major.minor.patch.
type kamalVersion [3]int

func parseVersion(s string) (kamalVersion, error) {
	var v kamalVersion
	parts := strings.Split(strings.TrimPrefix(strings.TrimSpace(s), "v"), ".")
	if len(parts) < 1 || len(parts) > 3 {
		return v, fmt.Errorf("want a Kamal version such as 2.12.0")
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return v, fmt.Errorf("want a Kamal version such as 2.12.0")
		}
		v[i] = n
	}
	if v[0] < 1 || v[0] > 2 {
		return v, fmt.Errorf("the emulator knows Kamal 1.x and 2.x")
	}
	return v, nil
}

func (v kamalVersion) atLeast(major, minor int) bool {
	return v[0] > major || v[0] == major && v[1] >= minor
}

func (v kamalVersion) String() string { return fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2]) }

// options are Kamal's (Thor's) options this emulator knows, and the arguments.
type options struct {
	pos []string
	set map[string]bool

	destination string
	message     string
	version     string
	roles       string
	hosts       string
	configFile  string
	primary     bool
	skipHooks   bool
	skipPush    bool
	help        bool

	lockWait         bool
	lockWaitTimeout  time.Duration
	lockWaitInterval time.Duration
	// The two as Kamal prints them ("#{timeout}s"): Thor's numeric, so "3"
	// for 3 and "0.5" or "1.0" for a float.
	lockWaitTimeoutText  string
	lockWaitIntervalText string
}

func (o *options) has(name string) bool { return o.set[name] }

type optSpec struct {
	name      string
	short     byte
	takeValue bool
	since     kamalVersion // zero: always
}

var optSpecs = []optSpec{
	{name: "destination", short: 'd', takeValue: true},
	{name: "message", short: 'm', takeValue: true},
	{name: "version", takeValue: true},
	{name: "roles", short: 'r', takeValue: true},
	{name: "hosts", short: 'h', takeValue: true},
	{name: "config-file", short: 'c', takeValue: true},
	{name: "primary", short: 'p'},
	{name: "skip-hooks", short: 'H'},
	{name: "skip-push", short: 'P'},
	{name: "verbose", short: 'v'},
	{name: "quiet", short: 'q'},
	{name: "confirmed", short: 'y'},
	{name: "interactive", short: 'i'},
	{name: "reuse"},
	{name: "raw"},
	{name: "help"},
	{name: "lock-wait", since: kamalVersion{2, 12, 0}},
	{name: "lock-wait-timeout", takeValue: true, since: kamalVersion{2, 12, 0}},
	{name: "lock-wait-interval", takeValue: true, since: kamalVersion{2, 12, 0}},
}

func findOpt(long string, short byte) *optSpec {
	for i := range optSpecs {
		s := &optSpecs[i]
		if long != "" && s.name == long || short != 0 && s.short == short {
			return s
		}
	}
	return nil
}

// parseArgs reads Thor-style arguments: options anywhere (--name VALUE,
// --name=VALUE, -x VALUE, -xVALUE, -x=VALUE), "--" ends them, and so does the
// command of `accessory exec NAME CMD...`.
func parseArgs(args []string, v kamalVersion) (options, error) {
	o := options{
		set:                  map[string]bool{},
		lockWaitTimeout:      900 * time.Second,
		lockWaitInterval:     15 * time.Second,
		lockWaitTimeoutText:  "900",
		lockWaitIntervalText: "15",
	}
	stop := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if stop || a == "-" || !strings.HasPrefix(a, "-") {
			o.pos = append(o.pos, a)
			if len(o.pos) >= 4 && o.pos[0] == "accessory" && o.pos[1] == "exec" {
				stop = true
			}
			continue
		}
		if a == "--" {
			stop = true
			continue
		}
		var spec *optSpec
		var value string
		hasValue := false
		if long, ok := strings.CutPrefix(a, "--"); ok {
			long, value, hasValue = strings.Cut(long, "=")
			spec = findOpt(strings.ReplaceAll(long, "_", "-"), 0)
		} else {
			spec = findOpt("", a[1])
			if spec != nil && len(a) > 2 {
				if !spec.takeValue {
					spec = nil
				} else {
					value, hasValue = strings.TrimPrefix(a[2:], "="), true
				}
			}
		}
		if spec == nil || spec.since != (kamalVersion{}) && !v.atLeast(spec.since[0], spec.since[1]) {
			return o, fmt.Errorf("Unknown switches %q", a)
		}
		if spec.takeValue && !hasValue {
			if i+1 >= len(args) {
				return o, fmt.Errorf("No value provided for option '--%s'", spec.name)
			}
			i++
			value = args[i]
		}
		o.set[spec.name] = true
		if err := o.setOpt(spec.name, value); err != nil {
			return o, err
		}
	}
	return o, nil
}

// setOpt records option name (with its value, for those that take one).
func (o *options) setOpt(name, value string) error {
	switch name {
	case "destination":
		o.destination = value
	case "message":
		o.message = value
	case "version":
		o.version = value
	case "roles":
		o.roles = value
	case "hosts":
		o.hosts = value
	case "config-file":
		o.configFile = value
	case "primary":
		o.primary = true
	case "skip-hooks":
		o.skipHooks = true
	case "skip-push":
		o.skipPush = true
	case "help":
		o.help = true
	case "lock-wait":
		o.lockWait = true
	case "lock-wait-timeout", "lock-wait-interval":
		d, err := parseSeconds(value)
		if err != nil {
			return fmt.Errorf("Expected numeric value for '--%s'; got %q", name, value)
		}
		if name == "lock-wait-timeout" {
			o.lockWaitTimeout, o.lockWaitTimeoutText = d, rubyNumeric(value, d)
		} else {
			o.lockWaitInterval, o.lockWaitIntervalText = d, rubyNumeric(value, d)
		}
	}
	return nil
}

// parseSeconds reads a number of seconds (fractions allowed) or a Go duration.
func parseSeconds(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0 {
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err == nil && d < 0 {
		err = fmt.Errorf("negative")
	}
	return d, err
}

// rubyNumeric is how Ruby prints a Thor numeric option given as s: an integer
// as written ("3"), a float with at least one decimal ("0.5", "1.0"); a Go
// duration (the emulator's extension) as seconds the same way.
func rubyNumeric(s string, d time.Duration) string {
	if n, err := strconv.Atoi(s); err == nil {
		return strconv.Itoa(n)
	}
	f := strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
	if !strings.Contains(f, ".") {
		f += ".0"
	}
	return f
}
