// Command golibs does nothing but link and initialise the libraries every
// hookshim command starts with: urfave/cli (the CLI), zerolog (logging) and
// the YAML parser (config/deploy.yml). Built like hookshim, its start-up less
// gohello's is what those libraries cost before hookshim does anything.
package main

import (
	_ "github.com/rs/zerolog"
	_ "github.com/urfave/cli/v2"
	_ "go.yaml.in/yaml/v3"
)

func main() {}
