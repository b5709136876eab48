package deployconfig

import (
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The files are read as yaml.v3 Nodes, which keep lines, anchors, aliases and
// merge keys; a reader adds what a Node cannot say: its file and its ERB.

const (
	maxNodes = 20000 // after alias expansion; real deploy.yml files have a few hundred
	maxDepth = 500
)

var errTooBig = errors.New("too many values after expanding YAML aliases")

// val is one value: its node with aliases followed (nil when absent), and the
// ERB text when only Ruby can tell the value.
type val struct {
	*yaml.Node
	erb string
}

// null says v is absent or YAML null.
func (v val) null() bool {
	return v.Node == nil || v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null"
}

// unset says v is null and not hidden by ERB.
func (v val) unset() bool { return v.null() && v.erb == "" }

func (v val) is(k yaml.Kind) bool { return v.Node != nil && v.Kind == k }

// describe names what v is, for "must be X, got Y" messages.
func (v val) describe() string {
	switch {
	case v.null():
		return "nothing (null)"
	case v.Kind == yaml.MappingNode:
		return "a map"
	case v.Kind == yaml.SequenceNode:
		return "a list"
	}
	switch v.ShortTag() {
	case "!!int", "!!float":
		return fmt.Sprintf("a number (%s)", shorten(v.Value, 30))
	case "!!bool":
		return fmt.Sprintf("a boolean (%s)", v.Value)
	}
	return fmt.Sprintf("%q", shorten(v.Value, 30))
}

// entry is a map key and its value.
type entry struct{ k, v val }

// entries is an ordered map: a key set again keeps its place, as in a Ruby Hash.
type entries struct {
	list []entry
	at   map[string]int
}

func (es *entries) set(e entry) {
	if i, ok := es.at[e.k.Value]; ok {
		es.list[i] = e
		return
	}
	if es.at == nil {
		es.at = map[string]int{}
	}
	es.at[e.k.Value] = len(es.list)
	es.list = append(es.list, e)
}

// walker records the file and ERB of every node of one file.
type walker struct {
	r     *reader
	name  string
	doc   *erbDoc
	sizes map[*yaml.Node]int // values under a node, aliases expanded; -1 while walking it
}

// walk visits n once, and refuses aliases that expand past maxNodes values or
// into themselves, so that a "billion laughs" file cannot make the reader loop
// or eat memory. It returns n's size.
func (w *walker) walk(n *yaml.Node, depth int) (int, error) {
	if size, ok := w.sizes[n]; ok {
		if size < 0 {
			return 0, fmt.Errorf("line %d: an alias contains itself", n.Line)
		}
		return size, nil
	}
	if depth > maxDepth {
		return 0, fmt.Errorf("line %d: values nested more than %d deep", n.Line, maxDepth)
	}
	w.r.file[n] = w.name
	if n.Kind == yaml.ScalarNode {
		if v, ok := w.doc.restore(n.Value); ok {
			n.Value, w.r.erb[n] = v, v
		} else if desc, ok := w.doc.regionAt(n.Line); ok {
			w.r.erb[n] = desc
		}
	}
	kids := n.Content
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return 0, fmt.Errorf("line %d: alias *%s names no anchor", n.Line, n.Value)
		}
		kids = []*yaml.Node{n.Alias}
	}
	w.sizes[n] = -1
	size := 1
	for _, k := range kids {
		s, err := w.walk(k, depth+1)
		if err != nil {
			return 0, err
		}
		if size += s; size > maxNodes {
			return 0, errTooBig
		}
	}
	w.sizes[n] = size
	return size, nil
}

// val follows aliases to n's value.
func (r *reader) val(n *yaml.Node) val {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return val{n, r.erb[n]}
}

// pairs lists a map's entries with merge keys applied. A value takes its key's
// ERB when it has none itself: a key that ERB writes or a Ruby block wraps
// makes its whole value unknowable.
func (r *reader) pairs(m val) []entry {
	if !m.is(yaml.MappingNode) {
		return nil
	}
	var es entries
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := r.val(m.Content[i]), r.val(m.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			continue // a complex key: nothing Kamal reads
		}
		if k.ShortTag() == "!!merge" {
			if merged, ok := r.merge(v); ok {
				for _, e := range merged {
					es.set(e)
				}
				continue
			}
		}
		if v.erb == "" {
			v.erb = k.erb
		}
		es.set(entry{k, v})
	}
	return es.list
}

// merge is a YAML merge key's value (<<: *base or <<: [*a, *b]) as Ruby's
// Psych applies it: at its place, over the keys before it; in a list, earlier
// maps win. Like Psych, ok is false for anything but a map or a list of maps,
// which then stays an ordinary "<<" key.
func (r *reader) merge(v val) (out []entry, ok bool) {
	maps := []*yaml.Node{v.Node}
	switch {
	case v.is(yaml.SequenceNode):
		maps = v.Content
	case !v.is(yaml.MappingNode):
		return nil, false
	}
	var es entries
	for i := len(maps) - 1; i >= 0; i-- {
		m := r.val(maps[i])
		if !m.is(yaml.MappingNode) {
			return nil, false
		}
		for _, e := range r.pairs(m) {
			es.set(e)
		}
	}
	return es.list, true
}

// get returns the value of key in map m, or an absent val.
func (r *reader) get(m val, key string) val {
	for _, e := range r.pairs(m) {
		if e.k.Value == key {
			return e.v
		}
	}
	return val{}
}

// deepMerge merges over into base the way Kamal merges a destination file
// into config/deploy.yml (ActiveSupport's Hash#deep_merge): maps merge key by
// key, recursively; anything else in over replaces. Neither is modified.
func (r *reader) deepMerge(base, over val) val {
	if !base.is(yaml.MappingNode) || !over.is(yaml.MappingNode) || base.erb != "" || over.erb != "" {
		return over
	}
	var es entries
	for _, e := range r.pairs(base) {
		es.set(e)
	}
	for _, e := range r.pairs(over) {
		if i, ok := es.at[e.k.Value]; ok {
			e.v = r.deepMerge(es.list[i].v, e.v)
		}
		es.set(e)
	}
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: base.Line}
	for _, e := range es.list {
		n.Content = append(n.Content, e.k.Node, e.v.Node)
	}
	r.file[n] = r.file[base.Node]
	return val{Node: n}
}

// yamlErrorLine splits go-yaml's "yaml: line N: msg" into N and msg.
func yamlErrorLine(err error) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = strings.TrimSpace(te.Errors[0])
	}
	var n int
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ":"); ok {
			if _, err := fmt.Sscanf(num, "%d", &n); err == nil {
				return n, strings.TrimSpace(text)
			}
		}
	}
	return 0, msg
}
