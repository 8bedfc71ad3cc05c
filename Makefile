# Jointly — `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/jointly-dev/jointly/party.Version=$(VERSION)
PKGS := ./...
FUZZTIME ?= 20s
# FUZZMINIMIZE is go test's -fuzzminimizetime. 0 keeps what the fuzzer finds
# as it found it: new-coverage inputs arrive by the dozen in a target's first
# seconds, and at Go's default (up to 60s of re-runs to shrink each one) the
# workers spend the whole FUZZTIME minimizing instead of trying new inputs.
# Set FUZZMINIMIZE=60s to shrink a crasher before debugging it.
FUZZMINIMIZE ?= 0
# FUZZCACHE keeps the inputs the targets find between runs (one directory per
# package under it, passed as go test's -test.fuzzcachedir). Empty, the default,
# gives each target a fresh one, so it starts from its seeds and testdata alone:
# replaying hundreds of unminimized inputs from earlier runs took half of a 30s
# FUZZTIME. Set FUZZCACHE=$HOME/.cache/jointly-fuzz, say, to grow a corpus.
FUZZCACHE ?=
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
fuzz: ## run every fuzz target for FUZZTIME each, print its executions, fail on a crash
	@fail=0; targets=0; \
	for pkg in $$($(GO) list $(PKGS)); do \
	  list=$$($(GO) test -list '^Fuzz' $$pkg) || { echo "$$list"; echo "fuzz $$pkg: does not build"; fail=1; continue; }; \
	  for f in $$(echo "$$list" | grep '^Fuzz'); do \
	    targets=$$((targets + 1)); log=$$(mktemp); \
	    cache="$(FUZZCACHE)"; [ -n "$$cache" ] && cache="$$cache/$$pkg" || cache=$$(mktemp -d); \
	    if $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) $$pkg \
	        -args -test.fuzzcachedir="$$cache" >$$log 2>&1; then \
	      result="0 crashes"; \
	    else \
	      fail=1; cat $$log; \
	      input=$$(sed -n 's/.*Failing input written to \(.*\)$$/\1/p' $$log | head -n 1); \
	      if [ -n "$$input" ]; then result="1 crash ($$input)"; else result="failed"; fi; \
	    fi; \
	    execs=$$(sed -n 's/^fuzz: elapsed: .*, execs: \([0-9]*\) .*/\1/p' $$log | tail -n 1); \
	    echo "fuzz $$pkg $$f: $${execs:-0} execs, $$result"; \
	    rm -f $$log; [ -n "$(FUZZCACHE)" ] || rm -rf "$$cache"; \
	  done; \
	done; \
	echo "fuzz: $$targets targets, FUZZTIME $(FUZZTIME) each"; \
	exit $$fail

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
