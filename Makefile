# Arkiv: `make run` starts everything on embedded defaults; `make test` runs every test.
GO      ?= go
ARKIV   := bin/arkiv
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

# Every stack (run, test, bench) shares one Weaviate build.
export ARKIV_BIN_DIR ?= $(CURDIR)/.data/bin

# How long `make fuzz` (and `make test`) runs each fuzz target.
FUZZTIME ?= 5s

.PHONY: run test fuzz bench build deps vet generate clean

run: deps build
	$(ARKIV) dev

test: deps build
	$(GO) vet ./...
	$(ARKIV) stack exec --data-dir .data/test -- $(GO) test -count=1 -timeout 25m ./...
	$(MAKE) fuzz

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
