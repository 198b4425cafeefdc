# Arkiv: `make run` starts everything on embedded defaults; `make test` runs every test.
GO      ?= go
ARKIV   := bin/arkiv
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

# Every stack (run, test, bench) shares one Weaviate build.
export ARKIV_BIN_DIR ?= $(CURDIR)/.data/bin

# How long `make fuzz` (and `make test`) runs each fuzz target.
FUZZTIME ?= 5s

# A failing `go test` must fail the recipe although its output goes through tee.
SHELL := bash
.SHELLFLAGS := -o pipefail -c

# Every process log of the test suite (and go test's own output) is kept here, and scanned
# afterwards for the secrets the tests used (infra/canarytest collects them).
TESTLOGS := .data/test/logs
CANARIES := .data/test/canaries
export ARKIV_TEST_LOG_DIR := $(CURDIR)/$(TESTLOGS)
export ARKIV_CANARY_FILE := $(CURDIR)/$(CANARIES)

.PHONY: run test fuzz soak bench build deps vet generate clean

run: deps build
	$(ARKIV) dev

test: deps build
	$(GO) vet ./...
	rm -rf $(TESTLOGS) $(CANARIES) && mkdir -p $(TESTLOGS)
	$(ARKIV) stack exec --data-dir .data/test -- $(GO) test -count=1 -v -timeout 25m ./... 2>&1 \
		| tee $(TESTLOGS)/go-test.log | grep -Ev '^(=== (RUN|PAUSE|CONT|NAME)|\s*--- (PASS|SKIP)|\{"time")'
	$(MAKE) fuzz 2>&1 | tee $(TESTLOGS)/fuzz.log
	tools/scan-canaries.sh $(CANARIES) $(TESTLOGS) .data/test/postgres.log .data/test/weaviate.log

# The long fault suite: every fault with 30 s outages, and a 10-minute mixed soak that
# reports RSS and goroutine slopes and p99 latencies (tests/fault).
soak: deps build
	mkdir -p $(TESTLOGS)
	$(ARKIV) stack exec --data-dir .data/test -- env ARKIV_SOAK=10m ARKIV_FAULT_OUTAGE=30s \
		$(GO) test -count=1 -v -timeout 40m ./tests/fault 2>&1 | tee $(TESTLOGS)/soak.log | grep -Ev '^(=== |\{"time")'

# Every fuzz target for FUZZTIME each (tools/fuzz.sh lists them), in the test stack.
fuzz: deps build
	$(ARKIV) stack exec --data-dir .data/test -- env GO=$(GO) tools/fuzz.sh $(FUZZTIME)

bench: deps build
	$(ARKIV) stack exec --data-dir .data/bench -- $(GO) run ./bench $(BENCHFLAGS)

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(ARKIV) ./cmd/arkiv

deps:
	@tools/ensure-deps.sh

vet:
	$(GO) vet ./...

generate:
	$(GO) tool gqlgen generate

clean:
	rm -rf bin .data/test .data/bench
