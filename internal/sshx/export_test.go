package sshx

import (
	"context"
	"os/exec"
)

// QuoteAnyShell exports quoteAnyShell to the tests.
var QuoteAnyShell = quoteAnyShell

// MasterPid is the pid of cn's ControlMaster.
func MasterPid(cn *Conn) int { return cn.cmd.Process.Pid }

// SocketDir is the private directory of cn's control socket.
func SocketDir(cn *Conn) string { return cn.dir }

// RunOverSocket runs script the way Conn.Run does, without first checking
// whether the master is still alive.
func RunOverSocket(ctx context.Context, cn *Conn, script string) (Result, error) {
	cmd := exec.CommandContext(ctx, cn.client.binary(), cn.clientArgs(nil, remoteCommand(script))...)
	return run(ctx, cmd, &cn.client, cn.target, nil)
}
