package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// process is the manager running as a child in a process group of its own, so that a Ctrl-C
// in the terminal reaches only the demo, which then stops it in order.
type process struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	exitErr error
}

func startManager(o options, kubeconfig, baseURL string) (*process, error) {
	logPath := filepath.Join(o.workDir, "manager.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.manager,
		"--kubeconfig", kubeconfig,
		"--tiquo-base-url", baseURL,
		"--default-api-key-secret", secretNamespace+"/"+secretName,
		"--metrics-bind-address", "0",
		"--health-probe-bind-address", "0",
		"--resync-interval", "30s",
		"--terminal-recheck-interval", "5m",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start manager %s: %w (run `make demo`, which builds it)", o.manager, err)
	}
	p := &process{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.exitErr = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// stop asks the manager to shut down and kills it if it has not within ten seconds.
func (p *process) stop() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		return errors.New("the manager did not stop within 10s and was killed")
	}
}
