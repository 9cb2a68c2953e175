# Sourced by the scripts of bench/rounds: how they run the server under test, the same way.
#
# start_server DATABASE_URL PORT LOG COMMAND...: runs COMMAND (a `passerelle` build and `serve`,
# or a wrapper) in the background, its output in LOG, with kept answers, rate limits, the
# scheduler and the access log off; sets `server` to its pid and returns once it answers on
# /health (up to two minutes: under Valgrind it starts slowly).
start_server() {
    local db=$1 port=$2 log=$3
    shift 3
    DATABASE_URL=$db PASSERELLE_LISTEN=127.0.0.1:$port PASSERELLE_RESPONSE_CACHE_MS=0 \
        PASSERELLE_RATE_LIMIT_ADDRESS=0 PASSERELLE_SCHEDULER=false PASSERELLE_LOG=warn \
        "$@" > "$log" 2>&1 &
    server=$!
    for _ in $(seq 1 1200); do
        curl -s -o /dev/null "http://127.0.0.1:$port/health" && return 0
        sleep 0.1
    done
    echo "the server did not answer on port $port; its log: $log" >&2
    return 1
}
