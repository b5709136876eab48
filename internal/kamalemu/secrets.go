package kamalemu

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// loadSecrets reads Kamal 2's secrets files: .kamal/secrets-common, then
// .kamal/secrets (or .kamal/secrets.DEST with a destination); later keys win.
func (e *emu) loadSecrets() ([][2]string, error) {
	if e.secretsRead {
		return e.secrets, nil
	}
	files := []string{".kamal/secrets-common", ".kamal/secrets"}
	if e.dest != "" {
		files[1] = ".kamal/secrets." + e.dest
	}
	var all [][2]string
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(e.dir, f))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, errorf("%v", err)
		}
		known := func(k string) (string, bool) {
			for i := len(all) - 1; i >= 0; i-- {
				if all[i][0] == k {
					return all[i][1], true
				}
			}
			return e.lookup(k)
		}
		all = append(all, parseDotenv(string(data), known)...)
	}
	// Later settings of a key win; keep one per key, in first-seen order.
	var out [][2]string
	idx := map[string]int{}
	for _, kv := range all {
		if i, ok := idx[kv[0]]; ok {
			out[i][1] = kv[1]
			continue
		}
		idx[kv[0]] = len(out)
		out = append(out, kv)
	}
	e.secrets, e.secretsRead = out, true
	return out, nil
}

var (
	dotenvKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)
	dotenvVar = regexp.MustCompile(`\\?\$(\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)`)
)

// parseDotenv reads KEY=VALUE lines the way dotenv does, for the cases Kamal's
// secrets files use: comments, `export `, 'literal', "escaped and expanded",
// and bare values (expanded, cut at " #"). $(...) is left as it is.
func parseDotenv(data string, lookup func(string) (string, bool)) [][2]string {
	var out [][2]string
	expand := func(s string, more [][2]string) string {
		return dotenvVar.ReplaceAllStringFunc(s, func(m string) string {
			if strings.HasPrefix(m, `\`) {
				return m[1:]
			}
			name := strings.Trim(strings.TrimPrefix(m, "$"), "{}")
			for i := len(more) - 1; i >= 0; i-- {
				if more[i][0] == name {
					return more[i][1]
				}
			}
			v, _ := lookup(name)
			return v
		})
	}
	for _, line := range strings.Split(data, "\n") {
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || !dotenvKey.MatchString(k) {
			continue
		}
		v = strings.TrimSpace(v)
		switch {
		case len(v) >= 2 && v[0] == '\'' && strings.Contains(v[1:], "'"):
			v = v[1 : 1+strings.Index(v[1:], "'")]
		case len(v) >= 2 && v[0] == '"':
			var b strings.Builder
			for i := 1; i < len(v); i++ {
				c := v[i]
				if c == '"' {
					break
				}
				if c == '\\' && i+1 < len(v) {
					i++
					switch v[i] {
					case 'n':
						b.WriteByte('\n')
					case 'r':
						b.WriteByte('\r')
					case '$':
						b.WriteString(`\$`)
					default:
						b.WriteByte(v[i])
					}
					continue
				}
				b.WriteByte(c)
			}
			v = expand(b.String(), out)
		default:
			if i := strings.Index(v, " #"); i >= 0 {
				v = strings.TrimSpace(v[:i])
			}
			v = expand(v, out)
		}
		out = append(out, [2]string{k, v})
	}
	return out
}
