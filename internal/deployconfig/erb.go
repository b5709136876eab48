package deployconfig

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Kamal runs deploy.yml through Ruby's ERB before parsing it. hookshim blanks
// the ERB out and remembers what it touched, so that a value only Ruby can
// compute is reported, never guessed: <%= expr %> becomes a token; <% code %>
// and <%# %> go (Kamal uses no trim mode); <%% is "<%". Values inside a Ruby
// block (if, each do, { |x|) may be skipped or repeated: unresolved too. A
// tag's newlines move to the end of its line, so line numbers stay true.

const erbToken = "__hookshim_erb_" // + index + "__"

// erbDoc is one file with its ERB blanked out.
type erbDoc struct {
	yaml    []byte
	outputs *strings.Replacer // token -> raw text of its <%= %> tag
	blocks  map[int]string    // line -> the outermost Ruby block around it, e.g. `<% if ENV["X"] %> … <% end %>`
	depth   int               // Ruby blocks open, while scanning; only the outermost (opened at line by tag) marks lines
	line    int
	tag     string
}

// stripERB blanks out the ERB of src; it fails for a tag never closed.
func stripERB(src []byte) (*erbDoc, error) {
	s, d := string(src), &erbDoc{blocks: map[int]string{}}
	var out strings.Builder
	var outputs []string  // token, raw tag, ...
	line, pending := 1, 0 // pending: newlines inside a tag, re-emitted at the line's end
	for i := 0; i < len(s); {
		switch {
		case s[i] == '\n':
			out.WriteString(strings.Repeat("\n", 1+pending))
			line, pending, i = line+1, 0, i+1
		case strings.HasPrefix(s[i:], "<%%"):
			out.WriteString("<%")
			i += 3
		case strings.HasPrefix(s[i:], "<%"):
			end := strings.Index(s[i+2:], "%>")
			if end < 0 {
				return nil, fmt.Errorf("line %d: ERB tag <%% is never closed with %%>", line)
			}
			raw := s[i : i+end+4]
			switch body := raw[2 : len(raw)-2]; {
			case strings.HasPrefix(body, "="):
				tok := erbToken + strconv.Itoa(len(outputs)/2) + "__"
				out.WriteString(tok)
				outputs = append(outputs, tok, raw)
			case !strings.HasPrefix(body, "#"):
				d.block(raw, line, rubyBlockDelta(body))
			}
			nl := strings.Count(raw, "\n")
			line, pending, i = line+nl, pending+nl, i+len(raw)
		default:
			out.WriteByte(s[i])
			i++
		}
	}
	out.WriteString(strings.Repeat("\n", pending))
	d.yaml, d.outputs = []byte(out.String()), strings.NewReplacer(outputs...)
	if d.depth > 0 { // Ruby would refuse it; we must not under-report
		d.mark(d.line, line, shorten(d.tag, 60)+" …")
	}
	return d, nil
}

// block records the blocks the code tag raw opens (delta > 0) or closes; an
// outermost block that closes marks its lines.
func (d *erbDoc) block(raw string, line, delta int) {
	if d.depth == 0 && delta > 0 {
		d.line, d.tag = line, raw
	} else if d.depth > 0 && d.depth+delta <= 0 {
		d.mark(d.line, line, shorten(d.tag, 60)+" … "+shorten(raw, 20))
	}
	d.depth = max(d.depth+delta, 0)
}

// mark puts lines from..to in the block desc, unless an earlier one holds them.
func (d *erbDoc) mark(from, to int, desc string) {
	for l := from; l <= to; l++ {
		if _, ok := d.blocks[l]; !ok {
			d.blocks[l] = desc
		}
	}
}

var (
	rubyStringRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`) })
	rubyWordRE   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*[?!]?|[{}]|;`) })
)

// rubyBlockDelta guesses how many Ruby blocks a code tag opens (> 0) or closes
// (< 0), by keywords: enough for if/unless/case, each do ... end, { |x| }.
func rubyBlockDelta(body string) (delta int) {
	body = rubyStringRE().ReplaceAllString(body, `""`)
	if k := strings.Index(body, "#"); k >= 0 { // Ruby comment to end of tag
		body = body[:k]
	}
	stmtStart, loop := true, false // loop: in while/until/for, whose optional "do" opens nothing
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
			delta, loop = delta+1, true
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

// restore puts the ERB back in place of the tokens in s, if any.
func (d *erbDoc) restore(s string) (string, bool) {
	if !strings.Contains(s, erbToken) {
		return s, false
	}
	r := d.outputs.Replace(s)
	return r, r != s
}

// shorten cuts s to at most n runes for a one-line message.
func shorten(s string, n int) string {
	r := []rune(strings.Join(strings.Fields(s), " "))
	if len(r) <= n {
		return string(r)
	}
	return string(r[:n-1]) + "…"
}
