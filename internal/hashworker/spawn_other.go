//go:build !linux

package hashworker

import (
	"io"
	"os/exec"
)

// spawn needs a per-thread idle priority inherited across fork, which this
// package only knows how to set on Linux; elsewhere hashes run in the
// server's process.
func spawn(int) (*exec.Cmd, io.WriteCloser, io.ReadCloser, error) {
	return nil, nil, nil, ErrUnavailable
}
