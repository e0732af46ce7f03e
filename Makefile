# Quota Sentinel — the two commands: `make run` and `make test`. Both install what is missing.
SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/quota-sentinel/target
export PATH := $(CURDIR)/end2end/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)
export LEPTOS_SITE_ROOT ?= $(CURDIR)/target/site
BIN := $(CARGO_TARGET_DIR)/release/quota-sentinel
QS_CONFIG ?= $(wildcard quota-sentinel.toml)
ifneq ($(QS_CONFIG),)
export QS_CONFIG
endif

.PHONY: run demo cluster test test-suite build tools test-tools unit sdk e2e bench image fmt lint

## make run: build the gateway and its UI (release) and serve on 127.0.0.1:3000 with SQLite.
run: build
	mkdir -p data
	$(BIN) serve

## make demo: the gateway and UI with a simulated OpenAI and traffic through every status.
demo: build
	$(BIN) demo

## make cluster: PostgreSQL, Redis, three gateways and nginx on 127.0.0.1:8080 until Ctrl-C
## (OPENAI_API_KEY for OpenAI, or QS_CLUSTER_SIMULATE=1 for the simulator; QS_CLUSTER_PORT).
cluster: build
	@scripts/ensure-tools.sh cluster
	scripts/cluster.sh

build: tools
	cargo leptos build --release

tools:
	@scripts/ensure-tools.sh build

test-tools:
	@scripts/ensure-tools.sh test

## make test: every test — unit, integration, SDK end-to-end, browser end-to-end — with a
## private PostgreSQL on loopback for the suites that run on both engines.
test: test-tools
	scripts/with-engines.sh $(MAKE) --no-print-directory test-suite

test-suite:
	# Without the WASM entry: in one build it would turn on app's `hydrate` feature next to
	# `ssr`, and a server render would then run browser effects (tokio spawn_local panics).
	# The WASM entry is built by `cargo leptos build` below.
	cargo test --workspace --exclude frontend --quiet
	cargo leptos build --release
	scripts/test-image.sh --no-cargo-build
	scripts/test-cluster.sh
	$(MAKE) --no-print-directory sdk e2e

sdk:
	QS_BIN=$(BIN) .venv/bin/python -m pytest -q tests/sdk

e2e:
	cd end2end && QS_BIN=$(BIN) npx playwright test

## make bench: the figures of BENCHMARKS.md.
bench: tools
	@scripts/ensure-tools.sh bench
	cargo leptos build --release
	cargo build --release --example stream_probe --example bare_proxy --example ledger_write --example alert_latency --example fanout_latency
	scripts/bench.sh $(BIN)
	scripts/bench-alerts.sh $(BIN)
	scripts/bench-policies.sh $(BIN)
	scripts/bench-redis.sh $(BIN)
	@scripts/ensure-tools.sh test
	cd end2end && QS_BIN=$(BIN) npx playwright test --config playwright.bench.config.ts

## make image: the OCI image (from scratch, with buildah, offline) as an archive for `docker load`.
image:
	scripts/image.sh

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --exclude frontend --all-targets -- -D warnings
	cargo clippy --workspace --all-targets -- -D warnings
