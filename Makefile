# Checkpointed — see README.md. Everything a fresh machine needs is installed by these
# targets: Go modules through the module proxy, the control-plane binaries built from
# source into a per-user cache (hack/control-plane.sh), Debian packages with apt-get.

SHELL := /usr/bin/env bash -o pipefail
GO ?= go
CONTROLLER_GEN := $(GO) tool controller-gen
# Generated files, checked for staleness by `make verify`.
GENERATED := api/v1alpha1/zz_generated.deepcopy.go config/crd config/rbac charts/checkpointed/crds charts/checkpointed/files/manager-role.yaml

.PHONY: all
all: build

##@ Development

.PHONY: generate
generate: ## Generate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: manifests
manifests: ## Generate the CRD and the manager's RBAC (config/crd, config/rbac, the chart's crds/ and files/manager-role.yaml).
	$(CONTROLLER_GEN) crd paths="./api/..." output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=manager-role paths="./controllers/..." output:rbac:artifacts:config=config/rbac
	mkdir -p charts/checkpointed/crds && cp config/crd/bases/*.yaml charts/checkpointed/crds/
	cp config/rbac/role.yaml charts/checkpointed/files/manager-role.yaml

.PHONY: chart-lint
chart-lint: ## Lint and render the Helm chart (Helm SDK: lint --strict, golden renders, RBAC = config/rbac).
	$(GO) test -count=1 ./test/chart/

.PHONY: fmt
fmt: ## gofmt the tree.
	gofmt -w $$(git ls-files '*.go')

.PHONY: verify
verify: generate manifests ## Fail when a generated file is stale, code is not gofmt'ed, or go vet complains.
	@if [ -n "$$(git status --porcelain -- $(GENERATED))" ]; then \
		echo "generated files are stale: run 'make generate manifests' and commit:"; \
		git status --porcelain -- $(GENERATED); git diff --stat -- $(GENERATED); exit 1; fi
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then \
		echo "not gofmt'ed: $$unformatted"; exit 1; fi
	$(GO) vet ./...

.PHONY: deps
deps: ## Install what tests need: Debian packages (PostgreSQL, kubectl fallback) and the control-plane binaries.
	hack/install-deps.sh

# make test runs the stages below in order and names each as it starts. Each stage also
# runs alone; hack/test-packages.sh says which packages belong to which stage.
.PHONY: test
test: deps verify ## Everything: staleness checks, then the unit, envtest and end-to-end stages.
	@$(MAKE) --no-print-directory test-unit
	@$(MAKE) --no-print-directory test-envtest
	@$(MAKE) --no-print-directory test-e2e

.PHONY: test-unit
test-unit: ## Stage 1: unit tests and integration tests against a real PostgreSQL and in-process HTTP APIs.
	@echo "==> stage unit: go test $$(hack/test-packages.sh unit | wc -l | tr -d ' ') packages"
	$(GO) test -count=1 -timeout 20m $$(hack/test-packages.sh unit)

.PHONY: test-envtest
test-envtest: ## Stage 2: controller and in-cluster runner against a real kube-apiserver + etcd built from source.
	@echo "==> stage envtest: $$(hack/test-packages.sh envtest | sed 's#.*/checkpointed/##' | tr '\n' ' ')"
	KUBEBUILDER_ASSETS="$$(hack/control-plane.sh)" $(GO) test -count=1 -timeout 20m $$(hack/test-packages.sh envtest)

.PHONY: test-e2e
test-e2e: ## Stage 3: images, local cluster up, operator deployed, end-to-end tests, cluster down (E2E_KEEP_CLUSTER=1 keeps it).
	@echo "==> stage e2e: test/e2e on a real single-node cluster"
	$(GO) test -count=1 -timeout 30m ./test/e2e/...

.PHONY: bench
bench: deps ## Benchmarks of the runner: every Postgres → Postgres scenario (incremental, drift, keys, snapshot) against same-run baselines, then HTTP APIs under rate limits.
	$(GO) run ./hack/bench
	$(GO) run ./hack/bench-http

.PHONY: bench-controller
bench-controller: deps ## Benchmark of the controller on envtest: 1,000 and 10,000 SyncJobs (BENCH_CONTROLLER_FLAGS, e.g. -n 1000).
	KUBEBUILDER_ASSETS="$$(hack/control-plane.sh)" $(GO) run ./hack/bench-controller $(BENCH_CONTROLLER_FLAGS)

##@ Build

.PHONY: build
build: ## Build the manager, the runner and the kubectl plugin (kubectl-syncjob) into bin/.
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/manager .
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/runner ./runner
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/kubectl-syncjob ./cmd/kubectl-syncjob

# DEMO=all (default): both scenarios, Postgres first (~2 min when the cluster binaries are
# cached). DEMO=postgres: billing invoices → CRM table, both PostgreSQL (~40 s). DEMO=http:
# the seed example, billing API → CRM API (hack/demo-services) with the sample SyncJob: a
# full run, a late payment, a 429-stopped run and its resumption (~2 min).
DEMO ?= all

.PHONY: demo
demo: ## One command: install what is missing, bring the local cluster up, deploy, sync billing invoices into a CRM (stays up; DEMO=all|postgres|http).
	DEMO=$(DEMO) hack/demo/demo.sh

.PHONY: demo-down
demo-down: ## Stop the demo's APIs and PostgreSQL and bring the local cluster down.
	hack/demo/down.sh

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-18s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

##@ Images and the local cluster (hack/cluster/README.md)

.PHONY: images
images: ## Static bin/manager, bin/runner, bin/pause packed into FROM-scratch OCI image tarballs in dist/ (go-containerregistry, no daemon).
	hack/cluster/images.sh

.PHONY: cluster-up
cluster-up: images ## A real single-node Kubernetes v1.37.2 on this machine (containerd, kubelet, ...); idempotent.
	hack/cluster/up.sh

.PHONY: cluster-down
cluster-down: ## Stop the local cluster and undo every change it made to the host.
	hack/cluster/down.sh

.PHONY: deploy
deploy: images ## Deploy the operator (config/default, local images) into the local cluster and wait until it is Available.
	hack/cluster/deploy.sh

.PHONY: undeploy
undeploy: ## Remove the operator (CRD, SyncJobs, RBAC, manager) from the local cluster.
	hack/cluster/undeploy.sh
