# rexec — the targets CI and developers share. `make check` is what CI runs
# after the plain test pass (see .ci/run).

GO        ?= go
FUZZTIME  ?= 10s
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck

.PHONY: all build test race lint fuzz-smoke fuzz stress cross check bench

all: build

build:
	$(GO) build -o bin/rexec ./cmd/rexec

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

# A short run of every fuzz target (CI); `make fuzz FUZZTIME=10m` for the long one.
fuzz-smoke:
	scripts/fuzz.sh 10s

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
