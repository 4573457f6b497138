#!/usr/bin/env bash
# Writes the release artifacts of VERSION (vX.Y.Z) into DIR; `make release` runs it with the
# tools the Makefile pins. It never edits tracked files: the image is pinned in a kustomize
# overlay in a temporary directory under bin/ (kustomize takes only relative bases).
#
#   hack/release.sh VERSION DIR IMAGE_REPO RELEASE_URL KUSTOMIZE HELM
set -euo pipefail

version=$1 dir=$2 image_repo=$3 release_url=$4 kustomize=$5 helm=$6
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

if ! [[ $version =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
	echo "VERSION=$version is not a release version: run make release VERSION=vX.Y.Z" >&2
	exit 2
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
if [ -n "$(ls -A "$dir")" ]; then
	echo "$dir is not empty: remove it first, a release is written into an empty directory" >&2
	exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "--- install.yaml (image $image_repo:$version)"
mkdir -p bin
overlay=$(mktemp -d bin/release-overlay.XXXXXX)
trap 'rm -rf "$tmp" "$root/$overlay"' EXIT
cat >"$overlay/kustomization.yaml" <<YAML
resources:
- ../../config/default
images:
- name: $image_repo
  newName: $image_repo
  newTag: $version
YAML
"$kustomize" build "$overlay" >"$dir/install.yaml"
if ! grep -q "image: $image_repo:$version\$" "$dir/install.yaml"; then
	echo "install.yaml does not run $image_repo:$version: is IMG's repository the one config/manager sets?" >&2
	exit 1
fi

echo "--- Helm chart ${version#v}"
"$helm" package charts/tiquo-operator --version "${version#v}" --app-version "$version" \
	--destination "$dir" >/dev/null

echo "--- kubectl-tiquo and its krew manifest"
manifest="$dir/tiquo.yaml"
cat >"$manifest" <<YAML
apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: tiquo
spec:
  version: $version
  homepage: https://github.com/tiquo-operator/tiquo-operator
  shortDescription: Import, diff and sync Tiquo CRM Customers
  description: |
    Works with the Customer objects of the Tiquo operator: writes Customer
    manifests for existing Tiquo records (import), prints the PATCH the
    operator would send for manifests (diff) and asks the operator to
    reconcile a Customer now (sync).
  platforms:
YAML
for platform in linux/amd64 linux/arm64 darwin/amd64 darwin/arm64; do
	os=${platform%/*} arch=${platform#*/}
	archive="kubectl-tiquo_${version}_${os}_${arch}.tar.gz"
	mkdir -p "$tmp/$os-$arch"
	CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath \
		-ldflags "-s -w -X github.com/tiquo-operator/tiquo-operator/internal/version.Version=$version" \
		-o "$tmp/$os-$arch/kubectl-tiquo" ./cmd/kubectl-tiquo
	# Reproducible: fixed order, owner and time, no name or time in the gzip header.
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$tmp/$os-$arch" -cf - kubectl-tiquo |
		gzip -9n >"$dir/$archive"
	sum=$(sha256sum "$dir/$archive" | cut -d' ' -f1)
	cat >>"$manifest" <<YAML
  - selector:
      matchLabels:
        os: $os
        arch: $arch
    uri: $release_url/$archive
    sha256: $sum
    files:
    - from: kubectl-tiquo
      to: .
    bin: kubectl-tiquo
YAML
done

echo "--- SHA256SUMS"
(cd "$dir" && sha256sum -- * >"$tmp/SHA256SUMS" && mv "$tmp/SHA256SUMS" SHA256SUMS)
ls -l "$dir"
