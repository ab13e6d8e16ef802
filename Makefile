# MantisDB — see README.md. Every target works on a fresh machine that has only Go.

GO      ?= go
BIN     := bin/mantisdb
PKGS    := ./...
# Packages with concurrency that also run under the race detector in `make test`.
RACE_PKGS := ./oltp/ ./lockmgr/ ./rest/ ./cmd/mantisdb/ ./flight/
# TEST_FLAGS lets a caller add flags, e.g. `make test TEST_FLAGS=-v`.
TEST_FLAGS ?=

.PHONY: all build run test race bench lint fmt clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/mantisdb

# Builds and starts the server on the embedded default data directory ./mantis-data.
run: build
	./$(BIN) serve

# The whole suite: vet, unit and integration tests (incl. crash tests), race detector on concurrent packages.
test:
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 25m $(TEST_FLAGS) $(PKGS)
	$(GO) test -count=1 -race -timeout 15m $(RACE_PKGS)

race:
	$(GO) test -count=1 -race -timeout 30m $(PKGS)

# Micro-benchmarks of the main module (the DuckDB side-by-side harness lives in bench/).
BENCH ?= .
bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
