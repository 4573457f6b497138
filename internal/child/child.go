// Package child runs a program (the manager, for the demo, the benchmark and test/rbac) as a
// child in a process group of its own, with its output in a log file, so that a Ctrl-C in the
// terminal reaches only the parent, which then stops the child in order.
package child

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Process is a started child.
type Process struct {
	// Cmd is the running command.
	Cmd *exec.Cmd
	// LogPath is the file that receives its stdout and stderr.
	LogPath string

	done chan struct{}
	err  error
}

// Start starts cmd in a process group of its own, writing its output to logPath.
func Start(cmd *exec.Cmd, logPath string) (*Process, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	p := &Process{Cmd: cmd, LogPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// Done is closed when the child has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is how the child exited; it is valid once Done is closed.
func (p *Process) Err() error { return p.err }

// Stop asks the child to shut down (SIGTERM) and kills its process group if it has not
// within grace. It is safe to call more than once.
func (p *Process) Stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
		_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("%s did not stop within %s and was killed", p.Cmd.Path, grace)
	}
}
