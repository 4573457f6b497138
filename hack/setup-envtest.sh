#!/usr/bin/env bash
# Builds the control plane the tests run against (kube-apiserver, etcd, kubectl) from the Go
# module proxy at the versions pinned in hack/tools/go.mod, into a cache outside the repository
# keyed by those versions, and prints the cache directory as its last line. When the binaries
# are already cached it only prints the directory. Nothing is fetched but Go modules.
set -euo pipefail

tools_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/tools" && pwd)
cd "$tools_dir"

k8s_version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
etcd_version=$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
cache_root=${TIQUO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tiquo-operator}
assets="$cache_root/k8s/${k8s_version#v}-etcd-${etcd_version#v}"

if [[ -x "$assets/kube-apiserver" && -x "$assets/etcd" && -x "$assets/kubectl" ]]; then
	echo "$assets"
	exit 0
fi

major_minor=${k8s_version#v}
major=${major_minor%%.*}
minor=${major_minor#*.}
minor=${minor%%.*}
# Stamp the release version the way Kubernetes' own build does, so that `kubectl version` and
# version-checking clients see v1.37.x rather than v0.0.0-master.
version_flags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	version_flags+=" -X ${pkg}.gitVersion=${k8s_version}"
	version_flags+=" -X ${pkg}.gitMajor=${major}"
	version_flags+=" -X ${pkg}.gitMinor=${minor}"
	version_flags+=" -X ${pkg}.gitTreeState=clean"
	version_flags+=" -X ${pkg}.buildDate=1970-01-01T00:00:00Z"
done

mkdir -p "$assets"
staging=$(mktemp -d "$assets/.build.XXXXXX")
trap 'rm -rf "$staging"' EXIT

echo "Building kube-apiserver ${k8s_version}, kubectl and etcd ${etcd_version} into $assets (about 13 minutes the first time)" >&2
start=$(date +%s)
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w${version_flags}" -o "$staging/kube-apiserver" ./kube-apiserver
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w${version_flags}" -o "$staging/kubectl" ./kubectl
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$staging/etcd" ./etcd
# Move into place only once all three are built, so an interrupted build never leaves a
# half-populated cache that a later run would trust.
mv "$staging/kube-apiserver" "$staging/kubectl" "$staging/etcd" "$assets/"
echo "Built the control plane in $(( $(date +%s) - start ))s" >&2
echo "$assets"
