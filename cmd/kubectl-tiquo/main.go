// Command kubectl-tiquo is a kubectl plugin for the Tiquo operator:
//
//	kubectl tiquo import   write Customer manifests for existing Tiquo records
//	kubectl tiquo diff     show what the operator would send to Tiquo for manifests
//	kubectl tiquo sync     ask the operator to reconcile a Customer now
//	kubectl tiquo doctor   check that the operator can work with a Tiquo API and key
//
// Install it on the PATH as kubectl-tiquo; see docs/kubectl-plugin.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	exitOK      = 0
	exitChanges = 1 // diff: at least one Customer has a PATCH pending; doctor: warnings
	exitError   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// errChanges ends diff with exit code 1 and no message: the output already says what is
// pending.
var errChanges = errors.New("changes pending")

// run executes the plugin with args (without the program name) and returns the exit code.
// getenv supplies TIQUO_API_KEY, TIQUO_BASE_URL, KUBECONFIG and HOME.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer,
	getenv func(string) string) int {
	root := newRootCommand(getenv)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errChanges), errors.Is(err, errDoctorWarnings):
		return exitChanges
	case errors.Is(err, errDoctorFailures):
		return exitError
	default:
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitError
	}
}

func newRootCommand(getenv func(string) string) *cobra.Command {
	root := &cobra.Command{
		Use:   "kubectl-tiquo",
		Short: "Work with Tiquo Customers: import records, preview PATCHes, request a sync",
		Long: `kubectl tiquo works with the Customer objects of the Tiquo operator.

  import  writes Customer manifests for existing Tiquo records, in sync as written
  diff    prints what the operator would send to Tiquo for Customer manifests (no cluster needed)
  sync    asks the operator to reconcile a Customer now
  doctor  checks that the operator can work with a Tiquo API and key, changing nothing

import, diff and doctor call the Tiquo API with the key in TIQUO_API_KEY (or --api-key) at
TIQUO_BASE_URL (or --base-url, default ` + defaultBaseURL + `).`,
		Annotations: map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl tiquo"},
		// Errors are printed once by run, without the usage text burying them.
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%w\nSee '%s --help'", err, cmd.CommandPath())
	})
	root.AddCommand(newImportCommand(getenv), newDiffCommand(getenv), newSyncCommand(getenv), newDoctorCommand(getenv))
	return root
}
