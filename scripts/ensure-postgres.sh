#!/usr/bin/env bash
# Makes sure the PostgreSQL server binaries the tests run (initdb, pg_ctl,
# postgres, psql) are on this machine: installs Debian's `postgresql` package
# where they are missing, and fails with a clear message where it cannot.
# The tests start their own throwaway cluster (crates/chathaul-test-postgres);
# nothing here starts or needs a system cluster.
set -euo pipefail

have_server() {
    if [ -n "${CHATHAUL_PG_BIN:-}" ]; then
        [ -x "$CHATHAUL_PG_BIN/initdb" ] && [ -x "$CHATHAUL_PG_BIN/pg_ctl" ]
        return
    fi
    for bin in /usr/lib/postgresql/*/bin; do
        [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ] && [ -x "$bin/psql" ] && return 0
    done
    command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1
}

if have_server; then
    exit 0
fi

echo "ensure-postgres: the PostgreSQL server is missing; installing Debian's postgresql package" >&2
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-postgres: error: no apt-get here; install the PostgreSQL server (initdb, pg_ctl) with this system's package manager, or set CHATHAUL_PG_BIN to the directory that holds them" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo="sudo"
    else
        echo "ensure-postgres: error: installing needs root: run \`apt-get install -y postgresql\` as root" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
# The package's post-install step may try to start a system cluster; the tests
# never use it, and where no init system runs it simply does not start.
$sudo apt-get update -qq || true
if ! $sudo apt-get install -y -qq postgresql >&2; then
    echo "ensure-postgres: error: \`apt-get install -y postgresql\` failed (see above)" >&2
    exit 1
fi
if ! have_server; then
    echo "ensure-postgres: error: postgresql installed, but initdb and pg_ctl are still not found under /usr/lib/postgresql/*/bin" >&2
    exit 1
fi
echo "ensure-postgres: installed $(ls -d /usr/lib/postgresql/*/bin | tail -1)" >&2
