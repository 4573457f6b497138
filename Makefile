# Image URL to use all building/pushing image targets
IMG ?= ghcr.io/tiquo-operator/tiquo-operator:latest
# Version stamped into the binaries and the Tiquo User-Agent.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

# Get the currently used golang install path (in GOPATH/bin, unless GOBIN is set)
ifeq (,$(shell go env GOBIN))
GOBIN=$(shell go env GOPATH)/bin
else
GOBIN=$(shell go env GOBIN)
endif

# CONTAINER_TOOL defines the container tool to be used for building images.
CONTAINER_TOOL ?= docker

# Setting SHELL to bash allows bash commands to be executed by recipes.
# Options are set to exit when a recipe line exits non-zero or a piped command fails.
SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

LDFLAGS ?= -X github.com/tiquo-operator/tiquo-operator/internal/version.Version=$(VERSION)

.PHONY: all
all: build

##@ General

# The help target prints out all targets with their descriptions organized
# beneath their categories. The categories are represented by '##@' and the
# target descriptions by '##'.
.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate the CRD, RBAC ClusterRole and other manifests from the Go markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./..." output:crd:artifacts:config=config/crd/bases

.PHONY: generate
generate: controller-gen ## Generate DeepCopy methods for the API types.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: fmt
fmt: ## Run go fmt against code.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet against code.
	go vet ./...

.PHONY: demo
demo: manifests build setup-envtest ## Run the operator locally: control plane, Tiquo sandbox, manager, sample Customers (Ctrl-C stops all).
	go build -o bin/tiquo-demo ./hack/demo
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" bin/tiquo-demo

.PHONY: test
test: manifests generate fmt vet chart setup-envtest helm kustomize krew ## Run all tests against a real kube-apiserver and etcd (built and cached on first use).
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go test ./... -count=1 -timeout 30m -coverprofile cover.out
	cd test/release && KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" HELM="$(HELM)" KUSTOMIZE="$(KUSTOMIZE)" \
		KREW="$(KREW)" VALIDATE_KREW_MANIFEST="$(VALIDATE_KREW_MANIFEST)" go test ./... -count=1 -timeout 20m
	$(MAKE) --no-print-directory fuzz FUZZTIME=10s

# How long `make fuzz` fuzzes each target.
FUZZTIME ?= 60s

.PHONY: fuzz
fuzz: ## Fuzz every fuzz target (func FuzzXxx in a _test.go file) for FUZZTIME each (60s by default).
	@grep -rl --include='*_test.go' --exclude-dir=bin --exclude-dir=hack '^func Fuzz' . | sort | while read -r file; do \
		dir=$$(dirname "$$file"); \
		for target in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$file"); do \
			echo "go test $$dir -run '^$$' -fuzz '^$$target$$' -fuzztime $(FUZZTIME)"; \
			go test "$$dir" -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) || exit 1; \
		done; \
	done

# The number of Customers `make bench` measures; BENCH_N=10000 is the full run.
BENCH_N ?= 1000

.PHONY: bench
bench: manifests build setup-envtest ## Run the scale benchmark (BENCH_N=1000 by default)
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go run ./hack/bench -n $(BENCH_N)

# make contract checks a live Tiquo against the operator's assumptions (docs/contract.md):
#   make contract TIQUO_BASE_URL=https://api.tiquo.co TIQUO_API_KEY=sk_test_... [CONTRACT_ARGS=--probe-rate-limit]
# The key travels in the environment, never on a command line make echoes.
.PHONY: contract
contract: export TIQUO_BASE_URL := $(TIQUO_BASE_URL)
contract: export TIQUO_API_KEY := $(TIQUO_API_KEY)
contract: export TIQUO_CA_FILE := $(TIQUO_CA_FILE)
contract: export TIQUO_CONTRACT_ALLOW_LIVE_KEY := $(TIQUO_CONTRACT_ALLOW_LIVE_KEY)
contract: ## Check a live Tiquo against the operator's assumptions (TIQUO_BASE_URL, TIQUO_API_KEY=sk_test_...).
	go run ./cmd/tiquo-contract $(CONTRACT_ARGS)

.PHONY: verify
verify: manifests generate fmt chart ## Regenerate everything and fail if any committed file is out of step, or the chart drifts from config/.
	go mod tidy
	cd hack/tools && go mod tidy
	cd test/release && go mod tidy
	@if [ -n "$$(git status --porcelain)" ]; then \
		echo "Generated or formatted files are out of step with their sources:"; \
		git status --porcelain; git --no-pager diff --stat; exit 1; \
	fi
	$(MAKE) --no-print-directory chart-check

# The Helm chart; `make chart` copies into it what it shares with config/.
CHART_DIR = charts/tiquo-operator

.PHONY: chart
chart: manifests ## Copy the CRD, the manager's RBAC rules, the alerts and the dashboard from config/ into the Helm chart.
	rm -f $(CHART_DIR)/crds/*.yaml
	cp config/crd/bases/*.yaml $(CHART_DIR)/crds/
	cp config/rbac/role.yaml $(CHART_DIR)/files/manager-role.yaml
	cp config/prometheus/prometheus_rule.yaml $(CHART_DIR)/files/prometheus-rule.yaml
	cp config/grafana/tiquo-operator.json $(CHART_DIR)/files/tiquo-operator.json

.PHONY: chart-check
chart-check: chart helm kustomize ## Fail if the objects the chart renders with default values differ from kustomize build config/default.
	cd test/release && HELM="$(HELM)" KUSTOMIZE="$(KUSTOMIZE)" go test -count=1 -run '^TestChartMatchesConfig' .

.PHONY: lint
lint: golangci-lint ## Run golangci-lint, on the operator's module and on test/release.
	$(GOLANGCI_LINT) run
	cd test/release && $(GOLANGCI_LINT) run --config ../../.golangci.yml ./...

.PHONY: lint-fix
lint-fix: golangci-lint ## Run golangci-lint and apply its fixes.
	$(GOLANGCI_LINT) run --fix

.PHONY: lint-config
lint-config: golangci-lint ## Verify the golangci-lint configuration.
	$(GOLANGCI_LINT) config verify

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build the manager and the Tiquo sandbox binaries.
	go build -ldflags "$(LDFLAGS)" -o bin/manager ./cmd/manager
	go build -o bin/tiquo-sandbox ./cmd/tiquo-sandbox

.PHONY: run
run: manifests generate fmt vet ## Run the manager from your host against the cluster in your kubeconfig.
	go run -ldflags "$(LDFLAGS)" ./cmd/manager $(ARGS)

# If you wish to build the manager image targeting other platforms you can use the --platform flag.
# (i.e. docker build --platform linux/arm64). However, you must enable docker buildKit for it.
.PHONY: docker-build
docker-build: ## Build the docker image with the manager.
	$(CONTAINER_TOOL) build --build-arg VERSION=$(VERSION) -t ${IMG} .

.PHONY: docker-push
docker-push: ## Push the docker image with the manager.
	$(CONTAINER_TOOL) push ${IMG}

.PHONY: build-installer
build-installer: manifests generate kustomize ## Generate dist/install.yaml with the CRD, RBAC and the Deployment.
	mkdir -p dist
	cd config/manager && $(KUSTOMIZE) edit set image controller=${IMG}
	$(KUSTOMIZE) build config/default > dist/install.yaml

# The repository of the image a release runs: IMG without its tag.
IMAGE_REPO ?= $(shell echo '$(IMG)' | sed -E 's/:[^:/]+$$//')
# Where `make release` writes, and where the release's files are downloaded from.
RELEASE_DIR ?= dist
RELEASE_URL ?= https://github.com/tiquo-operator/tiquo-operator/releases/download/$(VERSION)

.PHONY: release
release: chart kustomize helm ## Write the release VERSION=vX.Y.Z into RELEASE_DIR (dist/): install.yaml, the chart, kubectl-tiquo archives, krew manifest, SHA256SUMS.
	./hack/release.sh "$(VERSION)" "$(RELEASE_DIR)" "$(IMAGE_REPO)" "$(RELEASE_URL)" "$(KUSTOMIZE)" "$(HELM)"

##@ Deployment

ifndef ignore-not-found
  ignore-not-found = false
endif

.PHONY: install
install: manifests kustomize ## Install the CRD into the cluster in your kubeconfig.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) apply -f -

.PHONY: uninstall
uninstall: manifests kustomize ## Uninstall the CRD from the cluster. Call with ignore-not-found=true to ignore resource not found errors.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -f -

.PHONY: deploy
deploy: manifests kustomize ## Deploy the operator to the cluster in your kubeconfig.
	cd config/manager && $(KUSTOMIZE) edit set image controller=${IMG}
	$(KUSTOMIZE) build config/default | $(KUBECTL) apply -f -

.PHONY: undeploy
undeploy: kustomize ## Undeploy the operator. Call with ignore-not-found=true to ignore resource not found errors.
	$(KUSTOMIZE) build config/default | $(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -f -

##@ Dependencies

## Location to install dependencies to
LOCALBIN ?= $(shell pwd)/bin
$(LOCALBIN):
	mkdir -p $(LOCALBIN)

## Tool Binaries
KUBECTL ?= kubectl
KUSTOMIZE ?= $(LOCALBIN)/kustomize
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
GOLANGCI_LINT = $(LOCALBIN)/golangci-lint
HELM ?= $(LOCALBIN)/helm
KREW ?= $(LOCALBIN)/krew
VALIDATE_KREW_MANIFEST ?= $(LOCALBIN)/validate-krew-manifest

## Tool Versions
KUSTOMIZE_VERSION ?= v5.8.1
CONTROLLER_TOOLS_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0
HELM_VERSION ?= v4.3.2
KREW_VERSION ?= v0.4.3

.PHONY: setup-envtest
setup-envtest: ## Build (first time) or find (cached) kube-apiserver, etcd and kubectl; prints their directory last.
	@./hack/setup-envtest.sh

# The control plane directory; hack/setup-envtest.sh builds it once per version and caches it
# outside the repository.
ENVTEST_ASSETS = $(shell ./hack/setup-envtest.sh | tail -n 1)

.PHONY: kustomize
kustomize: $(KUSTOMIZE) ## Download kustomize locally if necessary.
$(KUSTOMIZE): $(LOCALBIN)
	$(call go-install-tool,$(KUSTOMIZE),sigs.k8s.io/kustomize/kustomize/v5,$(KUSTOMIZE_VERSION))

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Download controller-gen locally if necessary.
$(CONTROLLER_GEN): $(LOCALBIN)
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

.PHONY: helm
helm: $(HELM) ## Build helm locally if necessary.
$(HELM): $(LOCALBIN)
	$(call go-install-tool,$(HELM),helm.sh/helm/v4/cmd/helm,$(HELM_VERSION))

.PHONY: krew
krew: $(KREW) $(VALIDATE_KREW_MANIFEST) ## Build krew and its manifest validator locally if necessary.
$(KREW): $(LOCALBIN)
	$(call go-install-tool,$(KREW),sigs.k8s.io/krew/cmd/krew,$(KREW_VERSION))
$(VALIDATE_KREW_MANIFEST): $(LOCALBIN)
	$(call go-install-tool,$(VALIDATE_KREW_MANIFEST),sigs.k8s.io/krew/cmd/validate-krew-manifest,$(KREW_VERSION))

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT) ## Download golangci-lint locally if necessary.
$(GOLANGCI_LINT): $(LOCALBIN)
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

# go-install-tool will 'go install' any package with custom target and name of binary, if it doesn't exist
# $1 - target path with name of binary
# $2 - package url which can be installed
# $3 - specific version of package
define go-install-tool
@[ -f "$(1)-$(3)" ] && [ "$$(readlink -- "$(1)" 2>/dev/null)" = "$(1)-$(3)" ] || { \
set -e; \
package=$(2)@$(3) ;\
echo "Downloading $${package}" ;\
rm -f "$(1)" ;\
GOBIN="$(LOCALBIN)" go install $${package} ;\
mv "$(LOCALBIN)/$$(basename "$(1)")" "$(1)-$(3)" ;\
} ;\
ln -sf "$$(realpath "$(1)-$(3)")" "$(1)"
endef
