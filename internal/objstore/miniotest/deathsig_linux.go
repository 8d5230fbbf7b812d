package miniotest

import (
	"os/exec"
	"syscall"
)

// setDeathSignal has the kernel kill MinIO if the test binary dies
// without running its cleanups (a timeout panic, a kill).
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
