//go:build !linux

package miniotest

import "os/exec"

// setDeathSignal does nothing where the kernel has no parent-death signal;
// cleanups still stop the server.
func setDeathSignal(cmd *exec.Cmd) {}
