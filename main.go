// Command hookshim makes Kamal hooks behave the same whichever Kamal command runs
// them, and makes Kamal's deploy lock visible and safe to work with. The
// program is internal/cli; this hands it the process and exits with its status.
package main

import (
	"os"

	"github.com/hookshim/hookshim/internal/cli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	cli.Version = version
	os.Exit(cli.Main(cli.OSProcess()))
}
