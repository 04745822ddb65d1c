# Session Gate: `make run` serves the module on 127.0.0.1:6379, `make test` runs every test,
# `make bench` measures the module against native commands (BENCHMARKS.md; never part of tests).
SHELL := /bin/bash
PORT ?= 6379
MODULE := $(CURDIR)/target/release/libsessiongate.so

.PHONY: run test build deps lint unit integration clean bench bench-micro bench-profile

run: build
	@echo "Serving Session Gate on 127.0.0.1:$(PORT) (Ctrl-C stops it)"
	exec redis-server --bind 127.0.0.1 --port $(PORT) --save '' --loadmodule $(MODULE)

build: deps
	cargo build --release

test: deps lint build
	cargo test --release

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

deps:
	@./scripts/install-deps.sh

# Starts its own redis-server on a free loopback port and stops it on every exit path.
# BENCH_ARGS passes options to bench/run.py (`--quick`, `--rounds 9`, ...; see --help).
bench: build
	python3 bench/run.py $(BENCH_ARGS)

# Micro-benchmarks of the pure hot path (the system allocator: Redis' aborts outside Redis).
bench-micro:
	cargo bench --features system-alloc --bench hot_path

# Instructions per command under callgrind, module against native (bench/profile.sh).
bench-profile: build
	bench/profile.sh

clean:
	cargo clean
