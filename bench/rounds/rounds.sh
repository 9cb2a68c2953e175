#!/usr/bin/env bash
# Alternated rounds: each round starts every given build of `passerelle serve` afresh, in turn,
# on the same database, loads it with wrk, and prints its throughput, latency and CPU time per
# request (the server's, PostgreSQL's when it runs on this machine, and the whole machine's), so
# that two builds are compared in the same minutes of a shared machine rather than across them.
#
#   bench/rounds/rounds.sh DATABASE_URL ROUNDS BUILD...
#
# A BUILD is the path of a `passerelle` binary, or of a script that runs one (for settings:
# `PASSERELLE_DB_MAX_CONNECTIONS=4 exec ./passerelle "$@"`). Settings: BODY (a JSON request
# body; the peer bench's nested query by default), CLIENTS (50), ROUND_SECONDS (8), WARMUP (3),
# PORT (4100). Kept answers, rate limits, the scheduler and the access log are off. Needs wrk,
# curl and bc.
set -euo pipefail
if [ $# -lt 3 ]; then
    sed -n '2,13p' "$0" >&2
    exit 2
fi
db=$1
rounds=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/serve.sh"
body=${BODY:-$here/nested.json}
clients=${CLIENTS:-50}
seconds=${ROUND_SECONDS:-8}
warmup=${WARMUP:-3}
port=${PORT:-4100}
[ -r "$body" ] || { echo "no request body at $body" >&2; exit 2; }
for tool in wrk curl bc; do
    command -v "$tool" > /dev/null || { echo "$tool is needed" >&2; exit 2; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$body"); wrk.body = f:read("*a"); f:close()
LUA
tick=$(getconf CLK_TCK)
url="http://127.0.0.1:$port/graphql"
# user + system time of a process, and of the machine, in clock ticks
process_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
machine_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
# "pid ticks" for each of this machine's PostgreSQL processes; the ticks of the processes in the
# second list since the first (a process new in the second counts whole)
database_processes() {
    for pid in $(pgrep -x postgres || true); do
        awk -v pid="$pid" '{print pid, $14 + $15}' "/proc/$pid/stat" 2> /dev/null || true
    done
}
database_ticks() { awk 'NR == FNR {a[$1] = $2; next} {s += $2 - a[$1]} END {print s + 0}' "$1" "$2"; }
# milliseconds of CPU per request: ticks before, ticks after, requests
per_request() { bc <<< "scale=3; ($2 - $1) * 1000 / $tick / $3"; }
for round in $(seq 1 "$rounds"); do
    for build in "$@"; do
        start_server "$db" "$port" "$work/serve.log" "$build" serve
        wrk -t2 -c"$clients" -d"${warmup}s" -s "$work/post.lua" "$url" > /dev/null
        s0=$(process_ticks "$server")
        database_processes > "$work/db0"
        m0=$(machine_ticks)
        out=$(wrk -t2 -c"$clients" -d"${seconds}s" --latency -s "$work/post.lua" "$url")
        s1=$(process_ticks "$server")
        database_processes > "$work/db1"
        m1=$(machine_ticks)
        kill "$server"
        wait "$server" 2> /dev/null || true
        rps=$(awk '/Requests\/sec/{print $2}' <<< "$out")
        p50=$(awk '$1 == "50%"{print $2}' <<< "$out")
        p99=$(awk '$1 == "99%"{print $2}' <<< "$out")
        errors=$(grep -i "non-2xx" <<< "$out" || true)
        requests=$(bc <<< "$rps * $seconds")
        echo "$build round $round: $rps req/s, p50 $p50, p99 $p99," \
            "CPU ms per request: server $(per_request "$s0" "$s1" "$requests")," \
            "PostgreSQL $(per_request 0 "$(database_ticks "$work/db0" "$work/db1")" "$requests")," \
            "machine $(per_request "$m0" "$m1" "$requests") $errors"
    done
done
