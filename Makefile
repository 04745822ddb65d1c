# Session Gate: `make run` serves the module on 127.0.0.1:6379, `make test` runs every test.
SHELL := /bin/bash
PORT ?= 6379
MODULE := $(CURDIR)/target/release/libsessiongate.so

.PHONY: run test build deps lint unit integration clean soak

run: build
	@echo "Serving Session Gate on 127.0.0.1:$(PORT) (Ctrl-C stops it)"
	exec redis-server --bind 127.0.0.1 --port $(PORT) --save '' --loadmodule $(MODULE)

build: deps
	cargo build --release

test: deps lint build
	cargo test --release

# Bounded fuzzing (cargo fuzz, 30 s per target) and the long run under valgrind; see
# scripts/soak.sh and the README's "Security and hardening".
soak: deps build
	./scripts/soak.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

deps:
	@./scripts/install-deps.sh

clean:
	cargo clean
