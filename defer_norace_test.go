//go:build !race

package main

// dtRace: the tests run under the race detector.
const dtRace = false
