package hashworker

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// spawn starts the worker at SCHED_IDLE: the kernel runs it only on a core
// nothing else of normal priority wants, so requests never wait for a hash.
//
// The policy is set on a thread of this process, which then forks the
// worker: a child inherits the forking thread's policy, and every thread the
// worker's runtime creates inherits it again, so no thread of the worker
// ever runs at normal priority. The thread is never unlocked, so it ends
// with its goroutine and takes the lowered priority with it (an
// unprivileged thread may lower its priority but not raise it back).
//
// /proc/self/exe is the binary this process runs, even if the file was
// replaced since (an upgrade in place), so the worker speaks our protocol.
func spawn(concurrency int) (cmd *exec.Cmd, stdin io.WriteCloser, stdout io.ReadCloser, err error) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE}
		if err = unix.SchedSetAttr(0, &attr, 0); err != nil {
			err = fmt.Errorf("hashworker: setting idle priority: %w", err)
			return
		}
		cmd = exec.Command("/proc/self/exe", command)
		// No environment: the server's holds secrets. GOMAXPROCS matches
		// the hashes the server lets run at once.
		cmd.Env = []string{"GOMAXPROCS=" + strconv.Itoa(max(concurrency, 1))}
		cmd.Stderr = os.Stderr
		if stdin, err = cmd.StdinPipe(); err != nil {
			return
		}
		if stdout, err = cmd.StdoutPipe(); err != nil {
			return
		}
		if err = cmd.Start(); err != nil {
			err = fmt.Errorf("hashworker: starting the worker: %w", err)
		}
	}()
	<-done
	return cmd, stdin, stdout, err
}
