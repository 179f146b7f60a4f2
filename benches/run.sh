#!/usr/bin/env bash
# The benchmarks of issue 11 in one run; writes BENCHMARKS.md at the root.
#
#   benches/run.sh                   full run, release build (under 10 minutes on 2 cores)
#   BENCH_SIZE=tiny benches/run.sh   every program at a tiny size, debug build,
#                                    report in target/bench-tiny.md; asserts no time
#
# The Python baseline runs in benches/.venv-bench (created here; requests,
# pandas, pyarrow from PyPI). Without python3 or PyPI, its rows are skipped
# with a note. BENCH_SKIP_5M=1 leaves out the 5M-message memory run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo=${CARGO:-cargo}

if [ "${BENCH_SIZE:-full}" = tiny ]; then
    profile=${BENCH_PROFILE:-dev}
else
    profile=${BENCH_PROFILE:-release}
fi
"$cargo" build --profile "$profile" -p chathaul-cli -p chathaul-sim -p chathaul-bench
case "$profile" in dev) dir=debug ;; *) dir=$profile ;; esac
bin="${CARGO_TARGET_DIR:-$root/target}/$dir"

venv="$root/benches/.venv-bench"
if command -v python3 >/dev/null 2>&1; then
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv" || echo "benches/run.sh: cannot create $venv; the Python rows will be skipped" >&2
    fi
    if [ -x "$venv/bin/python" ]; then
        if ! "$venv/bin/python" -c 'import requests, pandas, pyarrow' 2>/dev/null; then
            "$venv/bin/python" -m pip install --quiet --disable-pip-version-check requests pandas pyarrow \
                || echo "benches/run.sh: pip install failed; the Python rows may be skipped" >&2
        fi
        if [ "${BENCH_SIZE:-full}" != tiny ]; then
            # The module under test, built from this tree (incremental in target/).
            "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$root" \
                || echo "benches/run.sh: building the Python module failed; table 5 will be skipped" >&2
        fi
        export BENCH_PYTHON="$venv/bin/python"
    fi
else
    echo "benches/run.sh: no python3; the Python baseline rows will be skipped" >&2
fi

# Normalization again, measured by divan (the bench target
# crates/chathaul-bench/benches/normalize.rs); chathaul-bench puts its table
# into the report. The tiny run runs each benchmark once (`--test`).
divan_out="${CARGO_TARGET_DIR:-$root/target}/bench-divan.txt"
if [ "${BENCH_SIZE:-full}" = tiny ]; then
    "$cargo" test -q -p chathaul-bench --bench normalize -- --test 2>&1 | tee "$divan_out"
else
    "$cargo" bench -q -p chathaul-bench --bench normalize 2>&1 | tee "$divan_out"
fi
export BENCH_DIVAN_OUT="$divan_out"

exec "$bin/chathaul-bench" "$@"
