package deployconfig

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// The files are read as yaml.v3 Nodes, which keep lines, anchors, aliases and
// merge keys; a reader adds what a Node cannot say: its file and its ERB.

const (
	maxNodes = 20000 // after alias expansion; real deploy.yml files have a few hundred
	maxDepth = 500
)

var lineRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^line ([0-9]+): (.*)`) })

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

// walk records the file and ERB of every node under n, once, and refuses
// aliases that expand past maxNodes values or into themselves, so that a
// "billion laughs" file cannot make the reader loop or eat memory. It returns
// n's size.
func (r *reader) walk(n *yaml.Node, depth int) (int, error) {
	if size, ok := r.sizes[n]; ok {
		if size < 0 {
			return 0, fmt.Errorf("line %d: an alias contains itself", n.Line)
		}
		return size, nil
	}
	if depth > maxDepth {
		return 0, fmt.Errorf("line %d: values nested more than %d deep", n.Line, maxDepth)
	}
	r.file[n] = r.name
	if n.Kind == yaml.ScalarNode {
		if v, ok := r.doc.restore(n.Value); ok {
			n.Value, r.erb[n] = v, v
		} else if desc, ok := r.doc.regionAt(n.Line); ok {
			r.erb[n] = desc
		}
	}
	kids := n.Content
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return 0, fmt.Errorf("line %d: alias *%s names no anchor", n.Line, n.Value)
		}
		kids = []*yaml.Node{n.Alias}
	}
	r.sizes[n] = -1 // being walked
	size := 1
	for _, k := range kids {
		s, err := r.walk(k, depth+1)
		if size += s; err != nil || size > maxNodes {
			return 0, cmp.Or(err, errTooBig)
		}
	}
	r.sizes[n] = size
	return size, nil
}

// val follows aliases to n's value.
func (r *reader) val(n *yaml.Node) val {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return val{n, r.erb[n]}
}

// pairs sets the entries of map m into es, with merge keys applied. A value
// takes its key's ERB when it has none itself: a key that ERB writes or a Ruby
// block wraps makes its whole value unknowable.
func (r *reader) pairs(m val, es *entries) []entry {
	for i := 0; m.is(yaml.MappingNode) && i+1 < len(m.Content); i += 2 {
		k, v := r.val(m.Content[i]), r.val(m.Content[i+1])
		switch {
		case k.Kind != yaml.ScalarNode: // a complex key: nothing Kamal reads
		case k.ShortTag() == "!!merge" && r.merge(v, es):
		default:
			v.erb = cmp.Or(v.erb, k.erb)
			es.set(entry{k, v})
		}
	}
	return es.list
}

// merge applies a YAML merge key's value (<<: *base or <<: [*a, *b]) as
// Ruby's Psych does: at its place, over the keys before it; in a list, earlier
// maps win. Like Psych, it does nothing and returns false for anything but a
// map or a list of maps, which then stays an ordinary "<<" key.
func (r *reader) merge(v val, es *entries) bool {
	maps := []*yaml.Node{v.Node}
	if v.is(yaml.SequenceNode) {
		maps = v.Content
	}
	var merged entries
	for i := len(maps) - 1; i >= 0; i-- {
		m := r.val(maps[i])
		if !m.is(yaml.MappingNode) {
			return false
		}
		r.pairs(m, &merged)
	}
	for _, e := range merged.list {
		es.set(e)
	}
	return true
}

// entries lists the entries of map m (none for anything else).
func (r *reader) entries(m val) []entry { return r.pairs(m, &entries{}) }

// get returns the value of key in map m, or an absent val.
func (r *reader) get(m val, key string) val {
	for _, e := range r.entries(m) {
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
	r.pairs(base, &es)
	for _, e := range r.entries(over) {
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
	if m := lineRE().FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n, m[2]
	}
	return 0, msg
}
