# rexec — the targets CI and developers share. `make check` is what CI runs
# after the plain test pass (see .ci/run).

GO        ?= go
FUZZTIME  ?= 10s
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck

.PHONY: all build test race lint fuzz-smoke fuzz stress cross check bench man install

all: build

# A static binary: nothing in rexec needs cgo, and without the dynamic
# loader and libc start-up every `rexec run` starts about 1 ms sooner.
build:
	CGO_ENABLED=0 $(GO) build -o bin/rexec ./cmd/rexec

# Man pages generated from the commands: rexec(1), rexec-run(1), ...
# `man -l bin/man/rexec.1` shows one without installing.
man:
	$(GO) run ./cmd/rexec-man -dir bin/man

PREFIX ?= /usr/local
install: build man
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 bin/rexec $(DESTDIR)$(PREFIX)/bin/rexec
	install -m 0644 bin/man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/

test:
	$(GO) test ./...

race:
	$(GO) test -race -shuffle on ./...

$(STATICCHECK):
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

lint: $(STATICCHECK)
	@bad=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$bad" ]; then echo "gofmt needed:"; echo "$$bad"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

# A short run of every fuzz target (CI, 5 s each); `make fuzz FUZZTIME=10m` for the long one.
fuzz-smoke:
	scripts/fuzz.sh 5s

fuzz:
	scripts/fuzz.sh $(FUZZTIME)

# Re-runs the whole suite 20 times to shake out flaky tests.
stress:
	$(GO) test -count 20 -shuffle on ./...

cross:
	GOOS=windows $(GO) build ./...
	GOOS=darwin $(GO) build ./...

check: lint race fuzz-smoke cross

bench:
	bench/compare.sh

# Reliability (docs/TESTING.md). The fault-injection suites run in `make
# test` at their default size; `make reliability` runs the full one (1,000
# bit flips, 1,000 cuts, 1,000 reorders, 1,000 damaged uploads, 1,000 cut
# and 1,000 bit-flipped downloads, the tree and sync faults; the 10,000-file
# tree copies and the tree kill tests at full size). `make load` and `make
# soak` build the real binary and load a `rexec serve` process (build tag
# load, never part of `go test ./...`).
SOAKTIME ?= 30m
.PHONY: reliability load soak

reliability:
	REXEC_RELIABILITY_FULL=1 $(GO) test -count 1 -v -timeout 30m ./internal/faultproxy/ ./internal/reliability/
	REXEC_RELIABILITY_FULL=1 $(GO) test -count 1 -v -timeout 30m -run '^TestCpTree(Identical|Kill)' ./internal/cli/

load:
	$(GO) test -tags load -count 1 -v -timeout 30m -run '^TestLoad' ./internal/reliability/load/

soak:
	REXEC_SOAK=$(SOAKTIME) $(GO) test -tags load -count 1 -v -timeout 0 -run '^TestSoak$$' ./internal/reliability/load/

# The README check alone (internal/readme, docs/TESTING.md): every line of
# README.md's sh blocks run on a fresh home in network namespaces, as root.
.PHONY: readme
readme:
	$(GO) test -count=1 -v -run '^TestTour$$' ./internal/readme

# The pre-auth flood must-holds of issue 7 (idle, drip, past the fd limit),
# printing the figures docs/TESTING.md quotes; REXEC_FLOOD_HELD=1 adds the
# case where the daemon holds all 10,000 idle connections.
.PHONY: flood
flood:
	$(GO) test -count=1 ./internal/flood
	$(GO) test -count=1 -v -run '^TestFlood' ./internal/cli
