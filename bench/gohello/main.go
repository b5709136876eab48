// Command gohello does nothing: built like hookshim (static, trimmed), it is
// the floor under any Go program's start, a baseline in the bench's table.
package main

func main() {}
