// Command kamal is the Kamal emulator of package kamalemu as a program of its
// own, for benchmarks and manual runs (tests run it through testscript).
package main

import "github.com/hookshim/hookshim/internal/kamalemu"

func main() { kamalemu.Main() }
