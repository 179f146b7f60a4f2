#!/usr/bin/env bash
# What one sync of the simulators takes on disk, measured in one run: the
# SQLite file (schema 3), the same file with schema 2's `json` column put
# back (what every conversation cost before), the same conversations as
# JSONL (the conversations_json view, as `pull` writes them), and the
# Postgres schema (tables with their TOAST and indexes).
#
# Needs jq, sqlite3, psql and the Postgres server (scripts/ensure-postgres.sh).
# Usage: scripts/storage-sizes.sh   (N=conversations per vendor, default 2000)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
(cd "$ROOT" && cargo build -q -p chathaul-cli -p chathaul-sim -p chathaul-test-postgres)
BIN="$ROOT/target/debug"
W=$(mktemp -d); cd "$W"
N=${N:-2000}
"$BIN/chathaul-sim" --json --seed 11 --conversations "$N" --messages 8 > sim.out 2>/dev/null &
SIM=$!
PGPID=
cleanup() {
  kill "$SIM" 2>/dev/null || true
  # Closing its standard input stops the Postgres server and removes its directory.
  if [ -n "$PGPID" ]; then exec 3>&-; wait "$PGPID" 2>/dev/null || true; fi
  rm -rf "$W"
}
trap cleanup EXIT
while [ "$(wc -l < sim.out)" -lt 3 ]; do sleep 0.2; done
{
  echo 'lookback = "1d"'
  while read -r line; do
    v=$(jq -r .vendor <<<"$line")
    echo; echo "[[source]]"; echo "name = \"$v\""; echo "vendor = \"$v\""; echo "[source.config]"
    jq -r --arg V "${v^^}" 'del(.vendor) | to_entries[] | if (.key == "password" or .key == "token") then "\(.key) = \"${SIM_\($V)_\(.key | ascii_upcase)}\"" else "\(.key) = \"\(.value)\"" end' <<<"$line"
    for k in password token; do
      val=$(jq -r --arg k $k '.[$k] // empty' <<<"$line"); [ -n "$val" ] && export "SIM_${v^^}_${k^^}=$val"
    done
  done < sim.out
} > chathaul.toml
"$BIN/chathaul" sync --config chathaul.toml --db s.sqlite --quiet
sqlite3 s.sqlite "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
sqlite3 s.sqlite "SELECT conversation FROM conversations_json" > all.jsonl
cp s.sqlite old.sqlite
sqlite3 old.sqlite "ALTER TABLE conversations ADD COLUMN json TEXT; UPDATE conversations SET json = (SELECT conversation FROM conversations_json j WHERE j.vendor = conversations.vendor AND j.account = conversations.account AND j.id = conversations.id); VACUUM;"
mkfifo pgin; "$BIN/chathaul-test-postgres" < pgin > pg.out & PGPID=$!; exec 3>pgin
while [ ! -s pg.out ]; do sleep 0.2; done
PGPORT=$(jq -r .port pg.out); PGUSER=$(jq -r .user pg.out)
URL="postgresql://$PGUSER@127.0.0.1:$PGPORT/postgres?sslmode=disable"
"$BIN/chathaul" sync --config chathaul.toml --db "$URL" --quiet
psql -q -At "$URL" -c "VACUUM ANALYZE" >/dev/null
PGBYTES=$(psql -At "$URL" -c "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'chathaul' AND c.relkind = 'r'")
sqlite3 s.sqlite "SELECT (SELECT count(*) FROM conversations) || ' conversations, ' || (SELECT count(*) FROM messages) || ' messages'"
printf '%-42s %12s\n' "SQLite, schema 2 layout (json column)" "$(stat -c %s old.sqlite)"
printf '%-42s %12s\n' "SQLite, schema 3" "$(stat -c %s s.sqlite)"
printf '%-42s %12s\n' "JSONL (the conversations_json view)" "$(stat -c %s all.jsonl)"
printf '%-42s %12s\n' "Postgres (tables with TOAST and indexes)" "$PGBYTES"
