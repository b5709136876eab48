// Package cli is hookshim's command line: it reads each command's flags and
// environment at the edge, hands plain values to shim, jobs, install and
// lockreport, and reports every error once (Main, through exitcode.Report).
package cli
