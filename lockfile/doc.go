// Package lockfile speaks Kamal's deploy-lock protocol: it parses and encodes the
// details file, knows every layout Kamal has used, and reads, takes and releases
// locks in a local directory tree or on a host over SSH.
//
// The protocol is described in shared/docs/kamal-locks.md. Everything read from a
// lock is untrusted input: any bytes give a result, never a panic, and nothing
// read from a lock is ever executed.
package lockfile
