# The two commands of the README:
#   make demo   runs the main job (a sync of all three vendors) on the built-in simulators
#   make test   installs what the tests need and runs every test (Rust and Python)
# Both work on a fresh machine with only the package registries reachable.

CARGO ?= cargo
INSTA_VERSION := 1.49.0

.PHONY: demo test test-rust lint features doc tools postgres bench examples test-python package bench-tiny

demo:
	$(CARGO) run --release -p chathaul-cli -- demo

test: tools postgres lint features test-rust examples doc package bench-tiny test-python

tools:
	@command -v cargo-insta >/dev/null 2>&1 || $(CARGO) install cargo-insta --locked --version $(INSTA_VERSION)

# The Postgres tests run a real server (their own cluster, started by
# crates/chathaul-test-postgres): install Debian's package where it is missing.
postgres:
	scripts/ensure-postgres.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# `chathaul` without default features is the model, the registry and the
# connectors' core: it must not compile Arrow, Parquet, SQLite, Postgres or TOML. And the
# engine builds with no feature and with each feature alone, so no `cfg` rots.
HEAVY := ^(arrow|parquet|rusqlite|libsqlite3-sys|toml|tokio-postgres|postgres-protocol)[a-z0-9_-]* v
ENGINE_FEATURES := arrow csv parquet sqlite postgres config
features:
	@if $(CARGO) tree -p chathaul --no-default-features -e normal --prefix none | grep -E '$(HEAVY)'; then \
		echo "error: chathaul --no-default-features depends on the crates above"; exit 1; fi
	$(CARGO) check -q -p chathaul --no-default-features
	$(CARGO) check -q -p chathaul-engine --no-default-features
	@for f in $(ENGINE_FEATURES); do echo "== chathaul-engine --features $$f"; \
		$(CARGO) check -q -p chathaul-engine --no-default-features --features $$f || exit 1; done

# `cargo insta test` runs every Rust test (unit, integration, doc) and fails on a
# stale, missing or unreferenced snapshot.
test-rust:
	$(CARGO) insta test --workspace --check --unreferenced=reject

# Every example runs against the built-in simulators, so none can rot.
EXAMPLES := pull_jsonl many_vendors sync_sqlite custom_connector
examples:
	@for e in $(EXAMPLES); do echo "== example $$e"; $(CARGO) run -q -p chathaul --example $$e > /dev/null || exit 1; done

# Every benchmark program runs for a tiny size (figures printed, no time asserted), so none can rot.
bench-tiny:
	BENCH_SIZE=tiny benches/run.sh

# Builds the Python module into a fresh virtual environment (pip install .)
# and runs pytest, the notebook, mypy and mypy.stubtest.
test-python:
	scripts/test-python.sh

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps

# The publishable crates package cleanly (test-only crates are excluded).
package:
	$(CARGO) package --workspace --no-verify --allow-dirty --exclude chathaul-bench --exclude chathaul-py \
		--exclude chathaul-reliability --exclude connector-testkit --exclude fake-vendor \
		--exclude chathaul-test-postgres

# Benchmarks (issue 11): writes BENCHMARKS.md; BENCH_SIZE=tiny for the quick run in the test command.
bench: ; benches/run.sh
