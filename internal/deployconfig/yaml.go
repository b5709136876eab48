package deployconfig

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/hookshim/hookshim/internal/exitcode"
)

const (
	maxFileSize = 4 << 20 // bytes; a real deploy.yml is a few KiB
	maxNodes    = 20000   // after alias expansion; real deploy.yml files have a few hundred
	maxDepth    = 500
)

var lineRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^line ([0-9]+): (.*)`) })

// reader reads yaml.v3 Nodes into a File, adding what a Node cannot say: its
// file and its ERB. Bad input panics with a failure, which Load recovers.
type reader struct {
	file  map[*yaml.Node]string // node -> the file it was read from
	erb   map[*yaml.Node]string // node -> its ERB text, when only Ruby can tell it
	sizes map[*yaml.Node]int    // values under a node, aliases expanded; -1 while walking it
	tags  map[string][]string   // host -> tags, for accessories' tag:/tags:
	name  string                // the file being walked, and its ERB
	doc   *erbDoc
	f     *File
}

type failure struct{ err error }

// RawText is the text of config/deploy.yml and, for a destination, its file,
// as far as they can be read: for guessing what files Load refused mention.
func RawText(repoDir, destination string) (text string) {
	for _, name := range []string{DeployFile, "config/deploy." + destination + ".yml"} {
		if data, err := readConfig(repoDir, name); err == nil {
			text += string(data) + "\n"
		}
	}
	return text
}

// readConfig reads one file; a missing one is fs.ErrNotExist.
func readConfig(repoDir, name string) ([]byte, error) {
	f, err := os.Open(filepath.Join(repoDir, filepath.FromSlash(name)))
	var data []byte
	if err == nil {
		defer f.Close()
		data, err = io.ReadAll(io.LimitReader(f, maxFileSize+1))
	}
	var pe *fs.PathError
	switch code := exitcode.IOErr; {
	case errors.Is(err, fs.ErrNotExist):
		return nil, err
	case err == nil && len(data) > maxFileSize:
		return nil, exitcode.Newf(exitcode.Config, "%s: larger than %d MiB, not a Kamal configuration", name, maxFileSize>>20)
	case errors.As(err, &pe):
		if errors.Is(err, fs.ErrPermission) {
			code = exitcode.NoPerm
		}
		return nil, exitcode.Newf(code, "%s: cannot read: %v", name, pe.Err)
	case err != nil:
		return nil, exitcode.Newf(code, "%s: cannot read: %v", name, err)
	}
	return data, nil
}

// parse returns one file's top-level map; missing is the error if it does not exist.
func (r *reader) parse(repoDir, name string, missing error) *yaml.Node {
	data, err := readConfig(repoDir, name)
	if errors.Is(err, fs.ErrNotExist) {
		err = missing
	}
	if err != nil {
		panic(failure{err})
	}
	fail := func(line int, msg string) { panic(failure{configError(name, line, msg, data)}) }
	var y yaml.Node
	doc, err := stripERB(data)
	if err == nil {
		err = unmarshal(doc.yaml, &y)
	}
	if err == nil {
		r.name, r.doc = name, doc
		_, err = r.walk(&y, 0)
	}
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ") // go-yaml's "yaml: line N: msg"
		if m := lineRE().FindStringSubmatch(msg); m != nil {
			n, _ := strconv.Atoi(m[1])
			fail(n, m[2])
		}
		fail(0, msg)
	}
	var root *yaml.Node
	if len(y.Content) > 0 {
		root = y.Content[0]
	}
	switch {
	case r.erb[root] != "":
		fail(root.Line, "the whole file is ERB ("+shorten(r.erb[root], 60)+")")
	case null(root): // an empty file, or only comments
		root = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: 1}
		r.file[root] = name
	case root.Kind != yaml.MappingNode:
		fail(root.Line, "the top level must be a map of settings (service:, servers:, ...), got "+describe(root))
	}
	return root
}

// unmarshal is yaml.Unmarshal with a panic as an error: go-yaml has panicked
// on hostile input before, and a config file must never crash hookshim.
func unmarshal(data []byte, n *yaml.Node) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("cannot be parsed as YAML (%v)", p)
		}
	}()
	return yaml.Unmarshal(data, n)
}

// configError is the one-line error for an unusable file, saying when ERB may be why.
func configError(name string, line int, msg string, data []byte) error {
	where := name
	if line > 0 {
		where = fmt.Sprintf("%s:%d", name, line)
	}
	if strings.Contains(string(data), "<%") {
		return exitcode.Newf(exitcode.Config, "%s: %s; the file holds ERB (<%% ... %%>) that only Ruby can evaluate", where, msg).
			WithHint("pass the values with flags instead: --service NAME, --host HOST, --ssh-user USER, --ssh-port PORT (or HOOKSHIM_SERVICE, HOOKSHIM_HOST, ...)")
	}
	return exitcode.Newf(exitcode.Config, "%s: %s", where, msg).
		WithHint("fix %s, or pass the values with flags (--service, --host, --ssh-user, --ssh-port)", name)
}

// walk records the file and ERB of every node under n, once; replaces aliases
// by their nodes; flattens merge keys; gives a value its key's ERB (a key ERB
// writes or a Ruby block wraps hides its value); and refuses aliases expanding
// past maxNodes or into themselves ("billion laughs"). It returns n's size.
func (r *reader) walk(n *yaml.Node, depth int) (int, error) {
	if size, ok := r.sizes[n]; ok && size < 0 {
		return 0, fmt.Errorf("line %d: an alias contains itself", n.Line)
	} else if ok {
		return size, nil
	} else if depth > maxDepth {
		return 0, fmt.Errorf("line %d: values nested more than %d deep", n.Line, maxDepth)
	}
	r.file[n] = r.name
	if v, ok := r.doc.restore(n.Value); ok && n.Kind == yaml.ScalarNode {
		n.Value, r.erb[n] = v, v
	} else if desc, ok := r.doc.blocks[n.Line]; ok && n.Kind == yaml.ScalarNode {
		r.erb[n] = desc
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
			return 0, cmp.Or(err, errors.New("too many values after expanding YAML aliases"))
		}
	}
	r.sizes[n] = size
	for i, k := range n.Content {
		for ; k.Kind == yaml.AliasNode; k = k.Alias {
		}
		n.Content[i] = k
	}
	if n.Kind == yaml.MappingNode {
		flatten(n)
		for i := 1; i < len(n.Content); i += 2 {
			if k, v := n.Content[i-1], n.Content[i]; r.erb[k] != "" && r.erb[v] == "" {
				c := *v // v may be an anchor's value elsewhere too
				n.Content[i], r.erb[&c], r.file[&c] = &c, r.erb[k], r.file[v]
			}
		}
	}
	return size, nil
}

// flatten rewrites map n's pairs as Ruby's Psych reads them: a repeated key
// keeps its first place and its last value; a complex key goes; a merge key
// (<<: *a or <<: [*a, *b]) sets its maps' keys at its place, over earlier keys,
// earlier maps winning. A << not holding maps stays an ordinary key.
func flatten(n *yaml.Node) {
	pairs, at := n.Content, map[string]int{}
	n.Content = nil
	set := func(kv []*yaml.Node) {
		if i, ok := at[kv[0].Value]; ok {
			n.Content[i], n.Content[i+1] = kv[0], kv[1]
			return
		}
		at[kv[0].Value] = len(n.Content)
		n.Content = append(n.Content, kv[0], kv[1])
	}
	for ; len(pairs) >= 2; pairs = pairs[2:] {
		k, v := pairs[0], pairs[1]
		maps := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			maps = v.Content
		}
		switch {
		case k.Kind != yaml.ScalarNode:
		case k.ShortTag() == "!!merge" && !slices.ContainsFunc(maps, func(m *yaml.Node) bool { return m.Kind != yaml.MappingNode }):
			for i := len(maps) - 1; i >= 0; i-- {
				for kv := maps[i].Content; len(kv) >= 2; kv = kv[2:] {
					set(kv)
				}
			}
		default:
			set(pairs)
		}
	}
}

func null(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func is(n *yaml.Node, k yaml.Kind) bool { return n != nil && n.Kind == k }

// describe names what n is, for "must be X, got Y" messages.
func describe(n *yaml.Node) string {
	switch {
	case null(n):
		return "nothing (null)"
	case n.Kind == yaml.MappingNode:
		return "a map"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.ShortTag() == "!!int" || n.ShortTag() == "!!float":
		return fmt.Sprintf("a number (%s)", shorten(n.Value, 30))
	case n.ShortTag() == "!!bool":
		return fmt.Sprintf("a boolean (%s)", n.Value)
	}
	return fmt.Sprintf("%q", shorten(n.Value, 30))
}

// keyAt returns the index of key in map m's Content, or -1.
func keyAt(m *yaml.Node, key string) int {
	for i := 0; is(m, yaml.MappingNode) && i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return i
		}
	}
	return -1
}

// get returns the value of key in map m, or nil.
func get(m *yaml.Node, key string) *yaml.Node {
	if i := keyAt(m, key); i >= 0 {
		return m.Content[i+1]
	}
	return nil
}

// deepMerge is ActiveSupport's Hash#deep_merge, as Kamal merges a destination
// file: maps merge key by key, anything else in over replaces. Neither changes.
func (r *reader) deepMerge(base, over *yaml.Node) *yaml.Node {
	if !is(base, yaml.MappingNode) || !is(over, yaml.MappingNode) || r.erb[base] != "" || r.erb[over] != "" {
		return over
	}
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: base.Line, Content: slices.Clone(base.Content)}
	for i := 0; i+1 < len(over.Content); i += 2 {
		k, v := over.Content[i], over.Content[i+1]
		if j := keyAt(n, k.Value); j >= 0 {
			n.Content[j], n.Content[j+1] = k, r.deepMerge(n.Content[j+1], v)
		} else {
			n.Content = append(n.Content, k, v)
		}
	}
	r.file[n] = r.file[base]
	return n
}
