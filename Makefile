# Valise — make help lists the targets.

GO       ?= go
BIN      := bin
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
# No man-page generator in the binaries; the agent also leaves out HTTP/2
# (it enrols over HTTP/1.1) and inlining, which keeps it under 9 MiB for
# small hotspots and slow 4G links. Its hot paths are I/O, not calls.
TAGS     := urfave_cli_no_docs
GOFLAGS_BUILD := -trimpath -tags $(TAGS) -ldflags="$(LDFLAGS)"
AGENT_FLAGS   := -trimpath -tags $(TAGS),nethttpomithttp2 -gcflags=all=-l -ldflags="$(LDFLAGS)"
DEMO_DIR ?= demo-data

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: deps
deps: ## install what builds and tests need on Debian (mosquitto, pci.ids, smartmontools)
	@scripts/deps.sh

.PHONY: build
build: ## build bin/valise, bin/valise-server and bin/valise-agent
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o $(BIN)/ ./cmd/valise ./cmd/valise-server
	CGO_ENABLED=0 $(GO) build $(AGENT_FLAGS) -o $(BIN)/ ./cmd/valise-agent

.PHONY: test
test: deps ## vet and run every test that needs no real hardware (incl. Mosquitto integration)
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 15m ./...

.PHONY: lint
lint: ## gofmt, and go vet of the windows and android agent builds (make test vets linux)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	GOOS=windows $(GO) vet ./agent/... ./cmd/valise-agent ./internal/...
	GOOS=android GOARCH=arm64 $(GO) vet ./agent/... ./cmd/valise-agent ./internal/...

.PHONY: run
run: build ## run valise-server with its embedded broker on ./valise-data
	$(BIN)/valise-server

.PHONY: demo
demo: deps build ## server + a real agent for this machine + a simulated fleet of 40 devices
	@scripts/demo.sh $(BIN) $(DEMO_DIR)

.PHONY: bench
bench: deps ## run every benchmark and write bench/results.md (ratios against baselines run alongside)
	@scripts/bench.sh

.PHONY: clean
clean: ## remove build outputs and demo data
	rm -rf $(BIN) dist $(DEMO_DIR)
