package deployconfig

import (
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// node is a YAML value after ERB blanking, alias expansion and merge keys:
// a plain tree that knows, for every value, the file and line it came from and
// whether ERB decides it.
type node struct {
	kind  nodeKind
	tag   string // short YAML tag of a scalar: !!str, !!int, !!null, ...
	value string // scalar text, with the original ERB put back
	erb   string // non-empty when only Ruby can tell the value: the raw ERB text
	keys  []*node
	vals  []*node
	items []*node
	line  int
	file  string
}

type nodeKind int

const (
	kindNull nodeKind = iota
	kindScalar
	kindMap
	kindSeq
)

func (k nodeKind) String() string {
	switch k {
	case kindScalar:
		return "a scalar"
	case kindMap:
		return "a map"
	case kindSeq:
		return "a list"
	}
	return "empty"
}

// describe names what a node is, for "must be X, got Y" messages.
func (n *node) describe() string {
	if n == nil || n.kind == kindNull {
		return "nothing (null)"
	}
	if n.kind != kindScalar {
		return n.kind.String()
	}
	switch n.tag {
	case "!!int", "!!float":
		return fmt.Sprintf("a number (%s)", shorten(n.value, 30))
	case "!!bool":
		return fmt.Sprintf("a boolean (%s)", n.value)
	}
	return fmt.Sprintf("%q", shorten(n.value, 30))
}

// get returns the value for key in a map node, or nil.
func (n *node) get(key string) (*node, *node) {
	if n == nil || n.kind != kindMap {
		return nil, nil
	}
	for i, k := range n.keys {
		if k.value == key {
			return k, n.vals[i]
		}
	}
	return nil, nil
}

// set puts key -> v into a map node; an existing key keeps its position, as in
// a Ruby Hash.
func (n *node) set(k, v *node) {
	for i, old := range n.keys {
		if old.value == k.value {
			n.vals[i] = v
			return
		}
	}
	n.keys = append(n.keys, k)
	n.vals = append(n.vals, v)
}

const (
	maxNodes = 20000 // after alias expansion; real deploy.yml files have a few hundred
	maxDepth = 500
)

var errTooBig = errors.New("too many values after expanding YAML aliases")

type converter struct {
	erb   *erbDoc
	file  string
	count int
}

func (c *converter) convert(y *yaml.Node, depth int) (*node, error) {
	if y == nil {
		return &node{kind: kindNull, file: c.file}, nil
	}
	c.count++
	if c.count > maxNodes {
		return nil, errTooBig
	}
	if depth > maxDepth {
		return nil, fmt.Errorf("line %d: values nested more than %d deep (or an alias that contains itself)", y.Line, maxDepth)
	}
	switch y.Kind {
	case yaml.DocumentNode:
		if len(y.Content) == 0 {
			return &node{kind: kindNull, line: y.Line, file: c.file}, nil
		}
		return c.convert(y.Content[0], depth+1)
	case yaml.AliasNode:
		if y.Alias == nil {
			return nil, fmt.Errorf("line %d: alias *%s names no anchor", y.Line, y.Value)
		}
		return c.convert(y.Alias, depth+1)
	case yaml.ScalarNode:
		n := &node{kind: kindScalar, tag: y.ShortTag(), line: y.Line, file: c.file}
		if n.tag == "!!null" {
			n.kind = kindNull
		}
		v, hasERB := c.erb.restore(y.Value)
		n.value = v
		if hasERB {
			n.erb = v
			n.kind = kindScalar
		} else if desc, ok := c.erb.regionAt(y.Line); ok {
			n.erb = desc
		}
		return n, nil
	case yaml.SequenceNode:
		n := &node{kind: kindSeq, line: y.Line, file: c.file}
		for _, it := range y.Content {
			v, err := c.convert(it, depth+1)
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, v)
		}
		return n, nil
	case yaml.MappingNode:
		n := &node{kind: kindMap, line: y.Line, file: c.file}
		for i := 0; i+1 < len(y.Content); i += 2 {
			ky, vy := y.Content[i], y.Content[i+1]
			if ky.Kind == yaml.AliasNode && ky.Alias != nil {
				ky = ky.Alias
			}
			if ky.Kind != yaml.ScalarNode {
				continue // a complex key: nothing Kamal reads
			}
			v, err := c.convert(vy, depth+1)
			if err != nil {
				return nil, err
			}
			if ky.ShortTag() == "!!merge" && v.erb == "" && mergeKey(n, v) {
				continue
			}
			k, err := c.convert(ky, depth+1)
			if err != nil {
				return nil, err
			}
			if k.erb != "" && v.erb == "" {
				// A key that ERB writes or a Ruby block wraps makes its whole
				// value unknowable.
				v.erb = k.erb
			}
			n.set(k, v)
		}
		return n, nil
	}
	return &node{kind: kindNull, line: y.Line, file: c.file}, nil
}

// mergeKey applies a YAML merge key (<<: *base or <<: [*a, *b]) the way Ruby's
// Psych does: at its position, over the keys seen so far; in a list, earlier
// maps win over later ones. Like Psych, it reports false for anything that is
// not a map or a list of maps, which then stays an ordinary "<<" key.
func mergeKey(n, v *node) bool {
	switch v.kind {
	case kindMap:
		for i, k := range v.keys {
			n.set(k, v.vals[i])
		}
		return true
	case kindSeq:
		h := &node{kind: kindMap}
		for i := len(v.items) - 1; i >= 0; i-- {
			it := v.items[i]
			if it.kind != kindMap {
				return false
			}
			for j, k := range it.keys {
				h.set(k, it.vals[j])
			}
		}
		for i, k := range h.keys {
			n.set(k, h.vals[i])
		}
		return true
	}
	return false
}

// deepMerge merges over into base the way Kamal merges a destination file into
// config/deploy.yml (ActiveSupport's Hash#deep_merge): where both sides are
// maps they merge key by key, recursively; anything else in over replaces.
// Neither argument is modified.
func deepMerge(base, over *node) *node {
	if base == nil || base.kind != kindMap || over == nil || over.kind != kindMap || over.erb != "" || base.erb != "" {
		return over
	}
	out := &node{kind: kindMap, line: base.line, file: base.file,
		keys: append([]*node(nil), base.keys...), vals: append([]*node(nil), base.vals...)}
	for i, k := range over.keys {
		if _, bv := out.get(k.value); bv != nil {
			out.set(k, deepMerge(bv, over.vals[i]))
		} else {
			out.set(k, over.vals[i])
		}
	}
	return out
}

// yamlErrorLine splits go-yaml's "yaml: line N: msg" into N and msg.
func yamlErrorLine(err error) (int, string) {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: ")
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = strings.TrimSpace(te.Errors[0])
	}
	if strings.HasPrefix(msg, "line ") {
		rest := msg[len("line "):]
		if i := strings.Index(rest, ":"); i > 0 {
			var n int
			if _, err := fmt.Sscanf(rest[:i], "%d", &n); err == nil {
				return n, strings.TrimSpace(rest[i+1:])
			}
		}
	}
	return 0, msg
}
