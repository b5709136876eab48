package kamalemu

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// extras are the deploy.yml settings the emulator needs beyond
// deployconfig's: boot: limit: and whether builder: context: is set.
type extras struct {
	bootLimit      string
	builderContext bool
}

// readExtras reads them from config/deploy.yml and, with -d DEST, from
// config/deploy.DEST.yml over it. The files are read as plain YAML: a file
// with ERB that YAML cannot read counts as setting neither.
func (e *emu) readExtras() extras {
	var x extras
	files := []string{filepath.Join(e.dir, "config", "deploy.yml")}
	if e.dest != "" {
		files = append(files, filepath.Join(e.dir, "config", "deploy."+e.dest+".yml"))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var doc struct {
			Boot struct {
				Limit string `yaml:"limit"`
			} `yaml:"boot"`
			Builder struct {
				Context *string `yaml:"context"`
			} `yaml:"builder"`
		}
		if yaml.Unmarshal(data, &doc) != nil {
			continue
		}
		if doc.Boot.Limit != "" {
			x.bootLimit = doc.Boot.Limit
		}
		if doc.Builder.Context != nil {
			x.builderContext = true
		}
	}
	return x
}

// bootLimit is boot: limit: as a host count, 0 when unset.
func (e *emu) bootLimit() int {
	if l := e.readExtras().bootLimit; l != "" {
		return parseBootLimit(l, len(e.cfg.AllHosts()))
	}
	return 0
}

// parseBootLimit is Kamal::Configuration::Boot#limit (Kamal 2.12
// lib/kamal/configuration/boot.rb): "N%" is max(allHosts*N/100, 1) in integer
// arithmetic, a plain number is itself; anything else is no limit.
func parseBootLimit(s string, allHosts int) int {
	if pct, ok := strings.CutSuffix(s, "%"); ok {
		n, err := strconv.Atoi(strings.TrimSpace(pct))
		if err != nil {
			return 0
		}
		return max(allHosts*n/100, 1)
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 {
		return 0
	}
	return n
}

// bootGroups is app:boot's host_boot_groups: the hosts in slices of the boot
// limit, or one group of all of them (Kamal 2.12 lib/kamal/cli/app.rb).
func (e *emu) bootGroups() [][]host {
	limit := e.bootLimit()
	if limit == 0 || limit >= len(e.hosts) {
		return [][]host{e.hosts}
	}
	var groups [][]host
	for i := 0; i < len(e.hosts); i += limit {
		groups = append(groups, e.hosts[i:min(i+limit, len(e.hosts))])
	}
	return groups
}

func joinHostNames(hs []host) string {
	names := make([]string, len(hs))
	for i, h := range hs {
		names[i] = h.name
	}
	return strings.Join(names, ",")
}
