//go:build !linux

package multinode

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
