// Command hookshim makes Kamal hooks behave the same whichever Kamal command runs
// them, and makes Kamal's deploy lock visible and safe to work with.
package main

import "os"

func main() {
	os.Exit(Main(Process{
		Args:   os.Args,
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		Env:    os.Environ(),
	}))
}
