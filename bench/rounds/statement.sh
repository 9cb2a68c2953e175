#!/usr/bin/env bash
# What one statement costs PostgreSQL, alone: the CPU time of the backend that runs it, per
# execution, for statements written as the server sends them (prepared, parameters bound). For
# the half of a request's cost that is the database's, which `rounds.sh` shows but cannot
# break down.
#
#   bench/rounds/statement.sh DATABASE_URL EXECUTIONS FILE...
#
# Each FILE is a pgbench script (one statement; `:domain` is bound to 'sport'); each is run
# EXECUTIONS times over one connection (`pgbench -M prepared -c 1`), in turn, and the CPU its
# backend used is read from the postmaster's children's times once it exits. PostgreSQL must
# run on this machine, and its data directory be readable (its `postmaster.pid`). Needs pgbench
# and psql. `bench/rounds/sql/nested.sql` is the peer bench's nested query's statement
# (captured with `ALTER DATABASE … SET log_min_duration_statement = 0`).
set -euo pipefail
if [ $# -lt 3 ]; then
    sed -n '2,14p' "$0" >&2
    exit 2
fi
db=$1
executions=$2
shift 2
for tool in pgbench psql; do
    command -v "$tool" > /dev/null || { echo "$tool is needed" >&2; exit 2; }
done
data=$(psql "$db" -Atc "SHOW data_directory")
postmaster=$(head -1 "$data/postmaster.pid")
tick=$(getconf CLK_TCK)
# user + system time of the postmaster's children that have exited, in clock ticks
children_ticks() { awk '{print $16 + $17}' "/proc/$postmaster/stat"; }
for file in "$@"; do
    before=$(children_ticks)
    pgbench -n -M prepared -c 1 -t "$executions" -D domain=sport -f "$file" "$db" > /dev/null
    # the backend exits as pgbench closes its connection; the postmaster reaps it
    for _ in $(seq 1 50); do
        after=$(children_ticks)
        [ "$after" != "$before" ] && break
        sleep 0.1
    done
    echo "$file: $(( (after - before) * 1000000 / tick / executions )) µs of PostgreSQL CPU per execution"
done
