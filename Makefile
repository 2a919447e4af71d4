# pushlab: one command to run the main job, one to run the tests.
SHELL := /bin/bash
GO ?= go
BIN := bin/pushlab
PKGS := ./...
export CGO_ENABLED := 1

.PHONY: all deps test-deps build run server scenarios scenarios-full soak test unit race vet fmt bench bench-9000 fuzz image clean

all: build

# deps installs the system libraries pushlab links against (Debian; run as root).
deps:
	@if ! pkg-config --exists libzmq libcrypto 2>/dev/null; then \
		echo "installing libzmq3-dev, libssl-dev and pkg-config"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libzmq3-dev libssl-dev pkg-config >/dev/null; \
	fi
	@command -v go >/dev/null || { echo "Go 1.26 or newer is needed (https://go.dev/dl)"; exit 1; }

# test-deps adds what the tests need beyond the build: a headless browser for the HTML report test.
test-deps: deps
	@if ! command -v chromium >/dev/null 2>&1; then \
		echo "installing chromium (headless browser for the HTML report test)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

build: deps
	$(GO) build -o $(BIN) ./cmd/pushlab

# run: set up, then the main job: the smoke scenario (1,000 simulated nodes, several jobs,
# misbehaving nodes) against the embedded reference server; prints the summary and where
# the report is (pushlab-reports/).
run: build
	./$(BIN) run scenarios/library/smoke.yaml

# server: the reference server alone, with its data in ./pushlab-data.
server: build
	./$(BIN) server --data-dir ./pushlab-data

# scenarios: every shipped scenario but soak at a tenth of its size against the reference
# server, one after the other, then pushlab run end to end; about 8 minutes. CI runs it after
# make test. SCENARIOS=smoke,nack-storm runs only those; the reports of runs that did not
# pass are kept in pushlab-reports/scenarios/.
SCENARIOS ?= 1
scenarios: deps
	PUSHLAB_SCENARIOS=$(SCENARIOS) PUSHLAB_SCENARIO_REPORTS=$(CURDIR)/pushlab-reports/scenarios \
		$(GO) test -p 1 -count=1 -timeout 45m -run 'TestLibrary|TestRunCommand' -v ./simulator/ ./cmd/pushlab/

# scenarios-full: every shipped scenario but soak at full size (1,000 to 9,000 nodes), one
# after the other; reports in pushlab-reports/NAME. soak has its own target (four hours).
FULL_SCENARIOS ?= $(filter-out soak,$(basename $(notdir $(wildcard scenarios/library/*.yaml))))
scenarios-full: build
	@failed=""; for s in $(FULL_SCENARIOS); do \
		echo "== $$s"; rm -rf pushlab-reports/$$s; \
		./$(BIN) run $$s --progress never --report-dir pushlab-reports/$$s || failed="$$failed $$s"; \
	done; \
	if [ -n "$$failed" ]; then echo "failed:$$failed"; exit 1; fi

soak: build
	./$(BIN) run soak --report-dir pushlab-reports/soak

# test: set up, then every test (unit, end-to-end over loopback sockets, conformance).
test: test-deps vet
	$(GO) test -count=1 -timeout 20m $(PKGS)

vet: deps
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null; git ls-files -o --exclude-standard '*.go' 2>/dev/null)); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go'; git ls-files -o --exclude-standard '*.go')

# bench: the speed and memory targets (numbers go to docs/benchmarks.md).
bench: deps
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m $(PKGS)

# bench-9000: the reference server at its scale target, 9,000 simulated nodes and three jobs on
# all of them (about a minute, the whole machine; run it on a quiet one).
bench-9000: deps
	PUSHLAB_BENCH_9000=1 $(GO) test -run '^$$' -bench Job9000 -benchtime 3x -timeout 60m ./fakenodes/fleetrun/

# fuzz: a short run of every fuzz target.
fuzz: deps
	@for f in $$($(GO) test -list '^Fuzz' ./internal/wire/ | grep ^Fuzz); do \
		$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 30s ./internal/wire/ || exit 1; done

# image: the reference server as a container image built from nothing (no base image is pulled).
IMAGE ?= pushlab:dev
image: build
	deploy/image/build.sh $(BIN) $(IMAGE)

clean:
	rm -rf bin pushlab-data pushlab-reports
