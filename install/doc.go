// Package install puts the hookshim binary and the hook stubs in place, locally or
// over SSH.
//
//   - [Binary] copies a binary into a directory on this machine atomically: a
//     temporary file in the same directory, fsync, mode 0755, rename, fsync of
//     the directory. It does nothing when the SHA-256 already matches.
//   - [InstallHooks] and [UninstallHooks] write and remove the POSIX sh stubs
//     that turn a Kamal hook into `hookshim run HOOK`, moving the user's own
//     hook into HOOK.d/ and back, byte for byte and with its mode.
//   - [Remote] pushes a binary to hosts over the system ssh: it checks the
//     host's `uname -s -m` against the binary, streams it into a temporary file
//     in the target directory, verifies its SHA-256 on the host and only then
//     renames it into place.
//
// Every step checks what it can before it changes anything, and every change is
// a rename, so an interrupted install leaves either the old state or the new
// one, never a half-written file. Errors are *exitcode.Error values whose codes
// are listed in errors.go.
package install
