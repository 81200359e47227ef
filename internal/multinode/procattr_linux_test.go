package multinode

import "syscall"

// sysProcAttr kills a node if the test binary dies without cleaning up
// (a test timeout, say), so no server outlives its test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
