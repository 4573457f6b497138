package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/tiquo-operator/tiquo-operator/internal/plugin"
	"github.com/tiquo-operator/tiquo-operator/internal/tiquo"
	"github.com/tiquo-operator/tiquo-operator/internal/version"
)

const (
	defaultBaseURL = "https://api.tiquo.co"
	envAPIKey      = "TIQUO_API_KEY"
	envBaseURL     = "TIQUO_BASE_URL"
)

// apiFlags are the flags of the commands that call Tiquo.
type apiFlags struct {
	apiKey  string
	baseURL string
	caFile  string
	timeout time.Duration
	// retryDelay is the pause before the first retry of a failed GET; tests shorten it.
	retryDelay time.Duration
}

func (f *apiFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.apiKey, "api-key", "",
		"Tiquo API key (default $"+envAPIKey+"; prefer the variable, flags show up in shell history and ps)")
	fs.StringVar(&f.baseURL, "base-url", "", "Tiquo API base URL (default $"+envBaseURL+", else "+defaultBaseURL+")")
	fs.StringVar(&f.caFile, "ca-file", "", "PEM bundle of extra CA certificates to trust for the Tiquo API")
	fs.DurationVar(&f.timeout, "request-timeout", 30*time.Second, "time limit of each Tiquo request")
	f.retryDelay = time.Second
}

// remote returns a Tiquo reader configured from the flags and the environment; it reports
// retries on log.
func (f *apiFlags) remote(getenv func(string) string, log io.Writer) (plugin.Remote, error) {
	key := f.apiKey
	if key == "" {
		key = getenv(envAPIKey)
	}
	if key == "" {
		return plugin.Remote{}, errors.New("no Tiquo API key: set " + envAPIKey + " or pass --api-key")
	}
	base := f.baseURL
	if base == "" {
		base = getenv(envBaseURL)
	}
	if base == "" {
		base = defaultBaseURL
	}
	client, err := tiquo.New(tiquo.Config{
		BaseURL:   base,
		UserAgent: "kubectl-tiquo/" + version.Version,
		Timeout:   f.timeout,
		CAFile:    f.caFile,
	})
	if err != nil {
		return plugin.Remote{}, err
	}
	return plugin.Remote{
		API: client, APIKey: key, Attempts: 4, RetryDelay: f.retryDelay,
		Retrying: func(id string, err error) {
			fmt.Fprintf(log, "Reading customer %s failed, trying again: %v\n", id, err)
		},
	}, nil
}
