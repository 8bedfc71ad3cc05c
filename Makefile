# Jointly — `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/jointly-dev/jointly/party.Version=$(VERSION)
PKGS := ./...
FUZZTIME ?= 20s
BENCHTIME ?= 1x

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build bin/jointly
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/jointly ./cmd/jointly

.PHONY: demo
demo: build ## run the demo: two nodes on loopback, synthetic data, a real query
	./bin/jointly demo $(DEMO_FLAGS)

.PHONY: test
test: ## run every test (PostgreSQL tests need JOINTLY_TEST_POSTGRES; .ci/run sets it)
	$(GO) test -count=1 -timeout 15m $(PKGS)

.PHONY: bench
bench: ## run the benchmarks once each and save the results under benchmarks/results/
	@mkdir -p benchmarks/results
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -timeout 60m $(PKGS) | tee benchmarks/results/latest.txt

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME each
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

.PHONY: lint
lint: ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)

.PHONY: proto
proto: ## regenerate the protobuf Go code (needs protoc: apt-get install protobuf-compiler)
	@command -v protoc >/dev/null || { echo "protoc not found: apt-get install protobuf-compiler"; exit 1; }
	protoc --plugin=protoc-gen-go=$$($(GO) tool -n protoc-gen-go) \
	  --plugin=protoc-gen-go-grpc=$$($(GO) tool -n protoc-gen-go-grpc) \
	  -I proto --go_out=proto --go_opt=paths=source_relative \
	  --go-grpc_out=proto --go-grpc_opt=paths=source_relative \
	  proto/jointly/v1/jointly.proto

.PHONY: verify
verify: proto ## check that regenerated protobuf and go mod tidy leave the tree clean
	$(GO) mod tidy
	@git diff --exit-code -- proto go.mod go.sum || { echo "generated code or go.mod is stale: run make proto and go mod tidy"; exit 1; }
