// Package shim decides what to do with a Kamal hook given the deploy lock's
// state and a policy, and carries it out: runs the hook now, holds the lock
// around it, waits for the lock, hands it to a deferral, or refuses.
package shim
