// Package version holds the operator's version, stamped at build time with
// -ldflags "-X github.com/tiquo-operator/tiquo-operator/internal/version.Version=...".
package version

// Version is the operator's release version; "dev" for a build that was not stamped.
var Version = "dev"
