#!/usr/bin/env bash
# What one request costs a build of `passerelle serve`, counted rather than timed: figures the
# machine's speed that day does not move, for changes smaller than the rounds' noise
# (`rounds.sh`). The server starts on a database, gets ten requests to warm it, then REQUESTS
# more, sent one at a time, are counted:
#
#   allocations   the calls into mimalloc (`mi_malloc_aligned`, which every Rust allocation of
#                 the server goes through, and `mi_free`), with perf's user probes; needs perf
#                 and root (or kernel.perf_event_paranoid=-1);
#   instructions  the instructions every thread of the server runs, under Valgrind's callgrind
#                 with counting on only for those requests; needs valgrind. The same build gives
#                 the same count to a few parts in ten thousand. Instructions, not the time they
#                 take: cache misses, system calls and the database's own work are not in it.
#
#   bench/rounds/count.sh allocations|instructions DATABASE_URL BUILD [REQUESTS]
#
# BUILD is the path of a `passerelle` binary (the release profile keeps the symbols the probes
# need). Settings: BODY (a JSON request body; the peer bench's nested query by default), PORT
# (4100), KEEP (a directory: callgrind's counts are copied there, for `callgrind_annotate
# --inclusive=yes KEEP/counts*`). Needs curl.
set -euo pipefail
if [ $# -lt 3 ]; then
    sed -n '2,20p' "$0" >&2
    exit 2
fi
what=$1
db=$2
build=$(realpath "$3")
requests=${4:-100}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/serve.sh"
body=${BODY:-$here/nested.json}
port=${PORT:-4100}
[ -r "$body" ] || { echo "no request body at $body" >&2; exit 2; }
case $what in
    allocations) tools="perf curl" ;;
    instructions) tools="valgrind callgrind_control curl" ;;
    *) echo "count allocations or instructions, not $what" >&2; exit 2 ;;
esac
for tool in $tools; do
    command -v "$tool" > /dev/null || { echo "$tool is needed" >&2; exit 2; }
done
work=$(mktemp -d)
group=passerelle_count_$$
cleanup() {
    [ -n "${server:-}" ] && kill "$server" 2> /dev/null || true
    [ "$what" = allocations ] && perf probe -q -d "$group:*" 2> /dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
run=("$build" serve)
if [ "$what" = allocations ]; then
    perf probe -q -x "$build" -a "$group:malloc=mi_malloc_aligned" -a "$group:free=mi_free"
else
    run=(valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/counts" "${run[@]}")
fi
start_server "$db" "$port" "$work/serve.log" "${run[@]}"
url="http://127.0.0.1:$port/graphql"
send() {
    for _ in $(seq 1 "$1"); do
        curl -sf -o /dev/null -H 'content-type: application/json' --data "@$body" "$url"
    done
}
send 10
if [ "$what" = allocations ]; then
    export -f send
    export body url
    perf stat -x, -e "$group:malloc" -e "$group:free" -p "$server" -o "$work/stat" -- \
        bash -c "send $requests"
    awk -F, -v n="$requests" '/malloc|free/ {
        split($3, e, ":"); printf "%s per request: %.0f\n", e[2], $1 / n }' "$work/stat"
else
    callgrind_control -i on "$server" > /dev/null 2>&1
    send "$requests"
    callgrind_control -i off "$server" > /dev/null 2>&1
    callgrind_control -d "$server" > /dev/null 2>&1
    total=$(cat "$work"/counts* | awk '/^totals:/ { s += $2 } END { print s }')
    echo "instructions per request: $((total / requests))"
    if [ -n "${KEEP:-}" ]; then
        mkdir -p "$KEEP"
        # callgrind leaves an empty file beside each dump.
        find "$work" -name 'counts*' -size +0 -exec cp {} "$KEEP"/ \;
    fi
fi
