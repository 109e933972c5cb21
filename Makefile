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
		CGO_ENABLED=0 GOFLAGS= $(GO) build $(GOFLAGS_BUILD) -ldflags '$(LDFLAGS)' -o bin/$$b ./cmd/$$b || exit 1; \
	done
	@echo "built $(ALL_BINARIES) $(VERSION) in bin/"

.PHONY: release-artifacts
release-artifacts: ## Reproducible static <binary>-linux-<arch> into dist/; ROOT=root.json is embedded in vigil-updater.
	@VERSION='$(VERSION)' ROOT='$(ROOT)' ALLOW_NO_ROOT='$(ALLOW_NO_ROOT)' ARCHES='$(ARCHES)' GO='$(GO)' OUT=dist deploy/release-artifacts.sh

NFPM ?= $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2

.PHONY: packages
packages: release-artifacts ## Build vigil-host and vigil-server .deb and .rpm for ARCHES into dist/packages/ (nfpm).
	@for a in $(ARCHES); do \
		CGO_ENABLED=0 GOFLAGS= GOOS=linux GOARCH=$$a $(GO) build $(GOFLAGS_BUILD) -ldflags '$(LDFLAGS)' -o dist/server/vigil-server-linux-$$a ./cmd/vigil-server || exit 1; \
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
FAULT_TESTS := TestServerKillDuringIngest|TestServerKillDuringRollout|TestPostgresRestartDuringIngest|TestSMTPFlappingStorm|TestAgentDiskFull|TestSlowlorisAndIdleConnections|TestUpdaterWatchdog|TestHostClockJumps|TestOneHostCannotStopIngestion|TestKillAtEveryJournalStep|TestInterruptedTrialRetried|TestBadInputOverRouteTable|TestBruteForceAPITokens|TestBruteForceHostCredential|TestBruteForceEnroll|TestSpoolDiskFullDropsOldest|TestWatchdogFedWhileSupervisorAnswers|TestRolloutSurvivesRestart|TestAgentClockJumps|TestUpdaterClockJumps|TestRefTimeAhead|TestRefTimeBehind

.PHONY: test-faults
test-faults: ## Fault suite with long durations (VIGIL_FAULTS=long): kills, PostgreSQL crashes, SMTP flapping, full disk, slowloris, watchdog. Root for tmpfs and a private PostgreSQL.
	VIGIL_FAULTS=long $(GO) test -count=1 -timeout 40m -run '^($(FAULT_TESTS))$$' $(FAULT_PKGS)

.PHONY: reliability
reliability: ## Run the fault suite (long) and regenerate docs/RELIABILITY.md from its results.
	set -o pipefail; VIGIL_FAULTS=long $(GO) test -json -count=1 -timeout 40m -run '^($(FAULT_TESTS))$$' $(FAULT_PKGS) \
		| $(GO) run ./e2e/faults/reltable -o docs/RELIABILITY.md

# make bench's output (JSON and text per step, timings.txt) and its sizes. The sizes keep the whole
# run under 15 minutes on the shared 2-core box: see docs/BENCHMARKS.md, "make bench".
BENCH_OUT          ?= bench-out
FOOTPRINT_DURATION ?= 10m
BENCH_ALERT_FLAGS  ?= -benchtime 3x -count 1
BENCH_STORE_FLAGS  ?= -bench . -benchtime 3x -count 1
BENCH_INGEST_FLAGS ?= -rounds 3 -duration 4s -hosts 500,4000 -batch 1
BENCH_SIM_FLAGS    ?= -hosts 500,2000 -interval 10s -duration 15s -stores discard,sqlite,postgres -clients net/http
BENCH_DELAY_ROUNDS ?= 3
BENCH_UPDATE_FLAGS ?= -rounds 1 -hosts 1,50

# $(call bench_step,NAME,COMMAND): run COMMAND, keep its output in $(BENCH_OUT)/NAME.txt, add its
# wall time to $(BENCH_OUT)/timings.txt.
define bench_step
	@echo "== $(1)"; t=$$(date +%s); set -o pipefail; { $(2) ; } 2>&1 | tee $(BENCH_OUT)/$(1).txt; rc=$$?; \
	echo "$(1) $$(( $$(date +%s) - t )) s (exit $$rc)" >> $(BENCH_OUT)/timings.txt; \
	if [ $$rc -ne 0 ]; then echo "== $(1) failed (exit $$rc); the next steps still run, make bench fails at the end"; fi
endef

# Not $(MAKE) itself: a line naming it runs even under make -n, which would start the soak.
BENCH_SUBMAKE := $(firstword $(MAKE))

.PHONY: bench
bench: ## Benchmarks (15-minute budget; per-step wall time in BENCH_OUT/timings.txt): results in BENCH_OUT, charts in docs/img/bench; method in docs/BENCHMARKS.md.
	@rm -rf $(BENCH_OUT) && mkdir -p $(BENCH_OUT)/bin
	$(GO) run ./e2e/benchcmd/benchcharts -probe $(BENCH_OUT)/machine.json
	$(GO) build -o $(BENCH_OUT)/bin/footprint ./e2e/benchcmd/footprint
	@# The footprint soak runs beside the short benchmarks: what it measures is each process's own
	@# (memory, CPU time); see BENCHMARKS.md for what the load beside it does and does not change.
	@t=$$(date +%s); \
	$(BENCH_OUT)/bin/footprint -install -checks -duration $(FOOTPRINT_DURATION) -settle 20s -series $(BENCH_OUT)/footprint-series.jsonl \
		>$(BENCH_OUT)/footprint.txt 2>&1 & fp=$$!; \
	trap 'kill $$fp 2>/dev/null; wait $$fp' EXIT; \
	echo "== footprint soak in the background (pid $$fp): $(BENCH_OUT)/footprint.txt"; \
	$(BENCH_SUBMAKE) --no-print-directory bench-steps BENCH_OUT=$(BENCH_OUT) || exit 1; \
	steps_rc=0; if grep -q '(exit [1-9]' $(BENCH_OUT)/timings.txt; then steps_rc=1; fi; \
	echo "== waiting for the footprint soak ($(FOOTPRINT_DURATION), then three updates)"; \
	wait $$fp; rc=$$?; trap - EXIT; \
	echo "footprint $$(( $$(date +%s) - t )) s (exit $$rc), in the background" >> $(BENCH_OUT)/timings.txt; \
	cat $(BENCH_OUT)/footprint.txt; \
	echo "== charts"; $(GO) run ./e2e/benchcmd/benchcharts -in $(BENCH_OUT) -out docs/img/bench || rc=1; \
	echo "== wall time per step"; cat $(BENCH_OUT)/timings.txt; \
	if [ $$steps_rc -ne 0 ]; then echo "== a step failed: see (exit N) above"; rc=1; fi; exit $$rc

.PHONY: bench-steps
bench-steps: # make bench's foreground steps, one after the other (make bench runs the footprint soak beside them).
	$(call bench_step,alert-bench,$(GO) test -run '^$$' -bench BenchmarkEvaluationCycle $(BENCH_ALERT_FLAGS) ./server/alert/)
	$(call bench_step,alert-delay,VIGIL_BENCH=1 VIGIL_ALERT_DELAY_ROUNDS=$(BENCH_DELAY_ROUNDS) $(GO) test -count=1 -v -run TestSilenceEmailDelay ./server/alert/)
	$(call bench_step,ingestbench,$(GO) run ./e2e/benchcmd/ingestbench $(BENCH_INGEST_FLAGS) -json $(BENCH_OUT)/ingestbench.json)
	$(call bench_step,simbench,$(GO) run ./e2e/benchcmd/simbench $(BENCH_SIM_FLAGS) -json $(BENCH_OUT)/simbench.json)
	$(call bench_step,store-bench,$(GO) test -run '^$$' $(BENCH_STORE_FLAGS) ./server/sqlitestore/ ./server/pgstore/)
	$(call bench_step,updater-bench,$(GO) test -run '^$$' -bench 'DownloadVerify|RefreshNoChange' -benchtime 5x ./updater/)
	$(call bench_step,updatebench,$(GO) run ./e2e/benchcmd/updatebench $(BENCH_UPDATE_FLAGS))

.PHONY: bench-charts
bench-charts: ## Redraw docs/img/bench/*.svg from what make bench (or make sim) left in BENCH_OUT.
	$(GO) run ./e2e/benchcmd/benchcharts -in $(BENCH_OUT) -out docs/img/bench

.PHONY: sim
sim: ## Fleet simulator against a server process per store (SIM_HOSTS, SIM_DURATION, SIM_CLIENTS, SIM_STORES); JSON into BENCH_OUT; see docs/BENCHMARKS.md.
	@mkdir -p $(BENCH_OUT)
	$(GO) run ./e2e/benchcmd/simbench -hosts $${SIM_HOSTS:-2000} -duration $${SIM_DURATION:-60s} -clients $${SIM_CLIENTS:-net/http,raw} \
		-stores $${SIM_STORES:-discard,sqlite,postgres} -json $(BENCH_OUT)/simbench.json

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
