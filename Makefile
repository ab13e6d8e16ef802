# MantisDB — see README.md. Every target works on a fresh machine that has only Go.

GO      ?= go
BIN     := bin/mantisdb
PKGS    := ./...
# Packages with concurrency that also run under the race detector in `make test`.
RACE_PKGS := . ./oltp/ ./segments/ ./lockmgr/ ./rest/ ./cmd/mantisdb/ ./flight/
# TEST_FLAGS lets a caller add flags, e.g. `make test TEST_FLAGS=-v`.
TEST_FLAGS ?=

.PHONY: all build run test race bench microbench lint fmt clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/mantisdb

# Builds and starts the server on the embedded default data directory ./mantis-data.
run: build
	./$(BIN) serve

# The whole suite: vet, unit and integration tests (incl. crash tests), race detector on concurrent
# packages, and a tiny run of every benchmark workload (bench/ is its own module: it links DuckDB via cgo).
test:
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 25m $(TEST_FLAGS) $(PKGS)
	$(GO) test -count=1 -race -timeout 15m $(RACE_PKGS)
	cd bench && $(GO) test -mod=mod -count=1 -timeout 10m ./...

race:
	$(GO) test -count=1 -race -timeout 30m $(PKGS)

# MantisDB beside DuckDB (bench/README.md): `make bench` runs every workload, `make bench BENCH=tpch SF=1`
# one. Results go to bench/results/ and docs/benchmarks.md.
BENCH ?= all
SF    ?= 1
bench:
	cd bench && $(GO) run -mod=mod . -bench $(BENCH) -sf $(SF)

# Go micro-benchmarks of the main module's packages.
microbench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
