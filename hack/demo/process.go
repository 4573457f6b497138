package main

import (
	"fmt"
	"os/exec"
	"path/filepath"

	"github.com/tiquo-operator/tiquo-operator/internal/child"
)

// startManager runs the manager against the demo's control plane and Tiquo, logging to the
// work directory.
func startManager(o options, kubeconfig, baseURL string) (*child.Process, error) {
	cmd := exec.Command(o.manager,
		"--kubeconfig", kubeconfig,
		"--tiquo-base-url", baseURL,
		"--default-api-key-secret", secretNamespace+"/"+secretName,
		"--metrics-bind-address", "0",
		"--health-probe-bind-address", "0",
		"--resync-interval", "30s",
		"--terminal-recheck-interval", "5m",
	)
	p, err := child.Start(cmd, filepath.Join(o.workDir, "manager.log"))
	if err != nil {
		return nil, fmt.Errorf("%w (run `make demo`, which builds the manager)", err)
	}
	return p, nil
}
