# tether — the front door. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
DB ?= tether.db
# The key `make run` creates for tenant "default"; for local use only.
DEV_API_KEY ?= tth_dev_local_only_0123456789
ADDR ?= 127.0.0.1:8080

.PHONY: help generate build run test test-race test-heavy lint bench soak tidy clean screenshots

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

generate: ## regenerate gen/ from openapi.yaml
	$(GO) generate ./...

build: ## build bin/tether
	$(GO) build -o bin/tether ./cmd/tether

run: build ## run tether locally: SQLite in $(DB), generated dev keys, API key $(DEV_API_KEY)
	@echo "tether on http://$(ADDR) — API key: $(DEV_API_KEY)"
	./bin/tether serve --addr $(ADDR) --db $(DB) --bootstrap-api-key $(DEV_API_KEY) \
		--allow-cidrs 127.0.0.0/8,::1/128

test: test-race test-heavy ## all tests: -race pass, then the heavy pass without -race

# The interop tests run the official TypeScript reference MCP server.
interop/node_modules/.package-lock.json: interop/package.json interop/package-lock.json
	cd interop && npm ci --no-audit --no-fund

# The console's browser tests drive Debian's chromium with playwright-core.
console/e2e/node_modules/.package-lock.json: console/e2e/package.json console/e2e/package-lock.json
	cd console/e2e && npm ci --no-audit --no-fund

test-race: interop/node_modules/.package-lock.json console/e2e/node_modules/.package-lock.json ## unit and integration tests under the race detector (fuzz targets run their seeds)
	$(GO) test -race -count=1 -timeout 10m ./...

test-heavy: ## crash, memory-ceiling and load tests, without -race (modernc SQLite is ~15x slower under it)
	$(GO) test -tags heavy -count=1 -timeout 10m -run 'Heavy' ./...

lint: ## gofmt, go vet, staticcheck, and generated code / go.mod up to date
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags heavy ./...
	$(GO) tool staticcheck ./...
	$(GO) tool staticcheck -tags heavy ./...
	$(GO) mod tidy -diff
	$(GO) generate ./...
	@git diff --exit-code --stat -- gen/ || { echo "gen/ differs from openapi.yaml: run 'make generate' and commit"; exit 1; }
	@test -z "$$(git ls-files --others --exclude-standard -- gen/)" || { echo "untracked generated files in gen/"; exit 1; }

bench: build ## benchmarks (API, probes, monitor, agent path end to end and in-process, PostgreSQL vs SQLite and replicas); prints them and rewrites the end of BENCHMARKS.md
	$(GO) run ./cmd/tether-bench | tee bin/bench-api.txt
	set -o pipefail; { $(GO) run ./cmd/tether-bench e2e && \
	  $(GO) run ./cmd/tether-bench e2e -protocol 2026-07-28 ; } | tee bin/bench-e2e.txt
	set -o pipefail; $(GO) run ./cmd/tether-bench postgres | tee bin/bench-pg.txt
	{ $(GO) test -run '^$$' -bench . -benchmem ./server/ && \
	  $(GO) test -run '^$$' -bench HealthMonitor -benchtime 1x ./registry/ && \
	  $(GO) test -run '^$$' -bench . -benchtime 500x ./gateway/ && \
	  $(GO) test -run '^$$' -bench ToolCallTracing -benchtime 2000x ./cmd/tether/ ; } | tee bin/bench-go.txt
	$(GO) run ./cmd/tether-bench report -api bin/bench-api.txt -go bin/bench-go.txt -e2e bin/bench-e2e.txt -pg bin/bench-pg.txt -out BENCHMARKS.md

screenshots: console/e2e/node_modules/.package-lock.json ## run the console's browser test and keep its screenshots in console/e2e/screenshots
	TETHER_CONSOLE_SCREENSHOTS=$(CURDIR)/console/e2e/screenshots $(GO) test -count=1 -run TestConsoleInBrowser ./cmd/tether/

soak: interop/node_modules/.package-lock.json ## long load, fault and fuzz runs (about 12 minutes)
	TETHER_LOAD_SECONDS=30 $(GO) test -tags heavy -count=1 -run 'HeavyLoad|HeavyMisbehaving' ./cmd/tether/
	$(GO) test -run '^$$' -fuzz '^FuzzFerniCreate$$' -fuzztime 2m ./cmd/tether/
	$(GO) test -run '^$$' -fuzz '^FuzzFeatherConnect$$' -fuzztime 2m ./cmd/tether/
	$(GO) test -run '^$$' -fuzz '^FuzzRequestBodies$$' -fuzztime 2m ./cmd/tether/
	$(GO) test -run '^$$' -fuzz FuzzCheckURL -fuzztime 2m ./netguard/

clean: ## remove build output and the local database
	rm -rf bin $(DB) $(DB)-wal $(DB)-shm $(DB).keys
