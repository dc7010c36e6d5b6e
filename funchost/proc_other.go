//go:build !unix

package funchost

import (
	"os"
	"os/exec"
)

func setProcessGroup(*exec.Cmd) {}

func killProcessGroup(p *os.Process) { _ = p.Kill() }

func terminateProcessGroup(p *os.Process) { _ = p.Kill() }
