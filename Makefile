# Vigil — fleet monitoring and secure updates. `make` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null | sed 's/^v//' || echo 0.0.0-dev)
GO      ?= go
GOFLAGS_BUILD := -trimpath -buildvcs=false
LDFLAGS := -s -w -buildid= -X main.version=$(VERSION)
BINARIES := vigil-server vigil-agent vigilctl
EXTRA_BINARIES := $(wildcard cmd/vigil-updater cmd/vigil-tuf-client)
ALL_BINARIES := $(BINARIES) $(notdir $(EXTRA_BINARIES))
ARCHES ?= amd64 arm64
FUZZTIME ?= 30s
export VIGIL_TEST_POSTGRES_URL

.PHONY: help
help: ## Show this help.
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

.PHONY: build
build: ## Build stripped binaries stamped with VERSION into bin/.
	@mkdir -p bin
	@for b in $(ALL_BINARIES); do \
		CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -ldflags '$(LDFLAGS)' -o bin/$$b ./cmd/$$b || exit 1; \
	done
	@echo "built $(ALL_BINARIES) $(VERSION) in bin/"

.PHONY: release-artifacts
release-artifacts: ## Reproducible static <binary>-linux-<arch> into dist/; ROOT=root.json is embedded in vigil-updater.
	@VERSION='$(VERSION)' ROOT='$(ROOT)' ALLOW_NO_ROOT='$(ALLOW_NO_ROOT)' ARCHES='$(ARCHES)' GO='$(GO)' OUT=dist deploy/release-artifacts.sh

NFPM ?= $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2

.PHONY: packages
packages: release-artifacts ## Build vigil-host and vigil-server .deb and .rpm for ARCHES into dist/packages/ (nfpm).
	@for a in $(ARCHES); do \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$a $(GO) build $(GOFLAGS_BUILD) -ldflags '$(LDFLAGS)' -o dist/server/vigil-server-linux-$$a ./cmd/vigil-server || exit 1; \
	done
	VERSION='$(VERSION)' DIST=dist SERVER_DIST=dist/server OUT=dist/packages ARCHES='$(ARCHES)' NFPM='$(NFPM)' deploy/packages/build.sh
	@ls -l dist/packages

.PHONY: demo
demo: build ## Build, then run a local server with a local agent (Ctrl-C stops everything).
	@deploy/demo.sh

.PHONY: test
test: ## Everything but fuzzing: vet, unit, both stores, end-to-end (the fault suite with short durations), browser tests.
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

.PHONY: test-short
test-short: ## Unit tests only (-race -short), seconds, no external services.
	$(GO) test -race -short -count=1 ./...

.PHONY: test-pg
test-pg: ## Store conformance on PostgreSQL (needs VIGIL_TEST_POSTGRES_URL).
	@test -n "$$VIGIL_TEST_POSTGRES_URL" || { echo "set VIGIL_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable"; exit 1; }
	$(GO) test -count=1 ./server/pgstore/... ./server/app/...

.PHONY: e2e
e2e: ## End-to-end tests with real processes.
	$(GO) test -count=1 -timeout 20m ./e2e/...

# The fault suite's own tests, and the regression tests it reuses (reported in docs/RELIABILITY.md).
FAULT_PKGS := ./e2e/faults/ ./server/app/ ./updater/ ./server/httpapi/ ./agent/
FAULT_TESTS := TestServerKillDuringIngest|TestServerKillDuringRollout|TestPostgresRestartDuringIngest|TestSMTPFlappingStorm|TestAgentDiskFull|TestSlowlorisAndIdleConnections|TestUpdaterWatchdog|TestHostClockJumps|TestOneHostCannotStopIngestion|TestKillAtEveryJournalStep|TestInterruptedTrialRetried|TestBadInputOverRouteTable|TestBruteForceAPITokens|TestBruteForceHostCredential|TestBruteForceEnroll|TestSpoolDiskFullDropsOldest|TestWatchdogFedWhileSupervisorAnswers|TestRolloutSurvivesRestart

.PHONY: test-faults
test-faults: ## Fault suite with long durations (VIGIL_FAULTS=long): kills, PostgreSQL crashes, SMTP flapping, full disk, slowloris, watchdog. Root for tmpfs and a private PostgreSQL.
	VIGIL_FAULTS=long $(GO) test -count=1 -timeout 40m -run '^($(FAULT_TESTS))$$' $(FAULT_PKGS)

.PHONY: reliability
reliability: ## Run the fault suite (long) and regenerate docs/RELIABILITY.md from its results.
	set -o pipefail; VIGIL_FAULTS=long $(GO) test -json -count=1 -timeout 40m -run '^($(FAULT_TESTS))$$' $(FAULT_PKGS) \
		| $(GO) run ./e2e/faults/reltable -o docs/RELIABILITY.md

.PHONY: bench
bench: ## Benchmarks; results and method in docs/BENCHMARKS.md.
	$(GO) test -run '^$$' -bench . -benchtime 3x -count 1 ./server/sqlitestore/ ./server/pgstore/
	$(GO) test -run '^$$' -bench BenchmarkEvaluationCycle -benchtime 3x -count 3 ./server/alert/
	VIGIL_BENCH=1 $(GO) test -count=1 -v -run TestSilenceEmailDelay ./server/alert/
	$(GO) run ./e2e/benchcmd/ingestbench
	$(GO) run ./e2e/benchcmd/footprint -install -duration $${FOOTPRINT_DURATION:-10m}
	$(GO) test -run '^$$' -bench 'DownloadVerify|RefreshNoChange' -benchtime 5x ./updater/ && $(GO) run ./e2e/benchcmd/updatebench

.PHONY: sim
sim: ## Fleet simulator against a vigil-server process per store and client (SIM_HOSTS, SIM_DURATION, SIM_CLIENTS); see docs/BENCHMARKS.md.
	$(GO) run ./e2e/benchcmd/simbench -hosts $${SIM_HOSTS:-2000} -duration $${SIM_DURATION:-60s} -clients $${SIM_CLIENTS:-net/http,raw}

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (default 30s).
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

# Every shell script under deploy/ and .ci/ (by its #! line, so one without .sh is not missed).
HASHBANG := \#!
SHELL_SCRIPTS = $(shell awk 'FNR == 1 && index($$0, "$(HASHBANG)") == 1 && /[\/ ](ba|da)?sh([ \t]|$$)/ { print FILENAME }' $$(find deploy .ci -type f))

.PHONY: lint
lint: ## go vet, staticcheck, shellcheck on deploy/ and .ci/ scripts, systemd-analyze verify on the units, govulncheck.
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	@command -v shellcheck >/dev/null || { echo "shellcheck not found: apt-get install shellcheck (.ci/run does)"; exit 1; }
	shellcheck $(SHELL_SCRIPTS)
	GO='$(GO)' deploy/verify-units.sh
	GO='$(GO)' deploy/vulncheck.sh

.PHONY: vulncheck
vulncheck: ## govulncheck offline, on a vulnerability-database snapshot from the module proxy (skips if unreachable).
	GO='$(GO)' deploy/vulncheck.sh

.PHONY: deps
deps: ## Check go.mod is tidy and binaries link only what they may.
	$(GO) mod tidy -diff
	$(GO) test -count=1 -run TestDeps ./cmd/...

.PHONY: tidy
tidy: ## go mod tidy.
	$(GO) mod tidy

.PHONY: clean
clean: ## Remove build output and demo data.
	rm -rf bin dist demo-data
