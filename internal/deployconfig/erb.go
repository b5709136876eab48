package deployconfig

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Kamal runs config/deploy.yml through Ruby's ERB before it parses the YAML.
// hookshim cannot run Ruby, so it does the next best thing: it blanks out the
// ERB so the YAML around it can still be read, and remembers which values the
// ERB touched, so that a value only Ruby can compute is reported as such instead
// of being guessed.
//
//   - <%= expr %> becomes a placeholder token; a scalar that contains one is
//     "unresolved" and keeps its original text (with the ERB) for messages.
//   - <% code %> and <%# comment %> are removed (Kamal uses ERB without a trim
//     mode, so the rest of the line stays, as it does in Ruby).
//   - Ruby blocks opened and closed by code tags (<% if ... %> ... <% end %>,
//     <% xs.each do |x| %> ... <% end %>) make everything between them
//     conditional or repeated: every value on those lines is unresolved too.
//   - <%% is ERB's escape for a literal "<%".
//
// Line numbers are kept: the newlines inside a tag that spans lines are moved to
// the end of the line where the tag ends, so YAML errors and the line numbers in
// messages match the file the user has open.

const (
	erbTokenPrefix = "__hookshim_erb_"
	erbTokenSuffix = "__"
)

// The regular expressions are compiled on first use, not at start-up: every
// hookshim command starts with this package linked in, most never meet ERB.
var erbTokenRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`__hookshim_erb_([0-9]+)__`) })

// erbRegion is a range of lines inside a Ruby block opened by an ERB code tag.
type erbRegion struct {
	from, to int    // 1-based lines, inclusive
	desc     string // e.g. `<% if ENV["X"] %> … <% end %>`
}

// erbDoc is the result of blanking out the ERB of one file.
type erbDoc struct {
	yaml    []byte
	outputs []string // raw text of each <%= %> tag, indexed by token number
	regions []erbRegion
	hasERB  bool
}

// stripERB blanks out the ERB of src as described above. It fails only for an
// ERB tag that is never closed, which Ruby would reject too.
func stripERB(src []byte) (*erbDoc, error) {
	s := string(src)
	d := &erbDoc{}
	if !strings.Contains(s, "<%") {
		d.yaml = src
		return d, nil
	}
	d.hasERB = true

	type codeTag struct {
		line  int
		raw   string
		delta int
	}
	var codes []codeTag

	var out strings.Builder
	out.Grow(len(s))
	line := 1
	pending := 0 // newlines swallowed by a multi-line tag, re-emitted at the next line end
	for i := 0; i < len(s); {
		if s[i] == '\n' {
			out.WriteByte('\n')
			for ; pending > 0; pending-- {
				out.WriteByte('\n')
			}
			line++
			i++
			continue
		}
		if !strings.HasPrefix(s[i:], "<%") {
			out.WriteByte(s[i])
			i++
			continue
		}
		if strings.HasPrefix(s[i:], "<%%") { // literal "<%"
			out.WriteString("<%")
			i += 3
			continue
		}
		end := strings.Index(s[i+2:], "%>")
		if end < 0 {
			return nil, fmt.Errorf("line %d: ERB tag <%% is never closed with %%>", line)
		}
		raw := s[i : i+2+end+2]
		body := raw[2 : len(raw)-2]
		startLine := line
		nl := strings.Count(raw, "\n")
		line += nl
		pending += nl
		i += len(raw)
		switch {
		case strings.HasPrefix(body, "="):
			out.WriteString(erbTokenPrefix + strconv.Itoa(len(d.outputs)) + erbTokenSuffix)
			d.outputs = append(d.outputs, raw)
		case strings.HasPrefix(body, "#"):
			// comment: nothing
		default:
			if delta := rubyBlockDelta(body); delta != 0 {
				codes = append(codes, codeTag{line: startLine, raw: raw, delta: delta})
			}
		}
	}
	for ; pending > 0; pending-- {
		out.WriteByte('\n')
	}
	d.yaml = []byte(out.String())

	// Pair block openers with their closers. Anything left open runs to the end
	// of the file (Ruby would not accept that, but we must not under-report).
	type open struct {
		line int
		raw  string
	}
	var stack []open
	for _, c := range codes {
		for k := 0; k < c.delta; k++ {
			stack = append(stack, open{c.line, c.raw})
		}
		for k := 0; k > c.delta && len(stack) > 0; k-- {
			o := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if len(stack) == 0 { // record outermost blocks only
				d.regions = append(d.regions, erbRegion{
					from: o.line, to: c.line,
					desc: shorten(o.raw, 60) + " … " + shorten(c.raw, 20),
				})
			}
		}
	}
	if len(stack) > 0 {
		d.regions = append(d.regions, erbRegion{from: stack[0].line, to: line, desc: shorten(stack[0].raw, 60) + " …"})
	}
	return d, nil
}

var (
	rubyStringRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`) })
	rubyWordRE   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*[?!]?|[{}]|;`) })
)

// rubyBlockDelta guesses how many Ruby blocks a code tag opens (positive) or
// closes (negative). It is a heuristic over keywords, which is enough for the
// block shapes people write in deploy.yml (if/unless/case, each do ... end,
// { |x| ... }); else/elsif/when stay inside the block they belong to.
func rubyBlockDelta(body string) (delta int) {
	body = rubyStringRE().ReplaceAllString(body, `""`)
	if k := strings.Index(body, "#"); k >= 0 { // Ruby comment to end of tag
		body = body[:k]
	}
	stmtStart := true
	loop := false // in a while/until/for statement, whose optional "do" opens nothing
	for _, w := range rubyWordRE().FindAllString(body, -1) {
		switch w {
		case ";":
			stmtStart, loop = true, false
			continue
		case "do":
			if !loop {
				delta++
			}
			loop = false
		case "{", "begin", "case", "def", "class", "module":
			delta++
		case "for":
			delta++
			loop = true
		case "}", "end":
			delta--
		case "if", "unless", "while", "until":
			if stmtStart { // not a trailing modifier ("x if y")
				delta++
				loop = w == "while" || w == "until"
			}
		}
		stmtStart = false
	}
	return delta
}

// restore puts the original ERB text back in place of the tokens in s, and
// reports whether s contained any.
func (d *erbDoc) restore(s string) (string, bool) {
	if d == nil || len(d.outputs) == 0 || !strings.Contains(s, erbTokenPrefix) {
		return s, false
	}
	found := false
	r := erbTokenRE().ReplaceAllStringFunc(s, func(tok string) string {
		m := erbTokenRE().FindStringSubmatch(tok)
		n, err := strconv.Atoi(m[1])
		if err != nil || n < 0 || n >= len(d.outputs) {
			return tok
		}
		found = true
		return d.outputs[n]
	})
	return r, found
}

// regionAt returns the description of the Ruby block around line, if any.
func (d *erbDoc) regionAt(line int) (string, bool) {
	if d == nil {
		return "", false
	}
	for _, r := range d.regions {
		if line >= r.from && line <= r.to {
			return r.desc, true
		}
	}
	return "", false
}

// shorten cuts s to at most n runes for a one-line message.
func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
