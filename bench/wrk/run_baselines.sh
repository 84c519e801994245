#!/usr/bin/env bash
# Run the token-benchmark baselines with wrk and print per-config medians.
#
# Usage: bench/wrk/run_baselines.sh [CONFIG ...]
#   CONFIG: bare_jwt-w1 | bare_jwt-w2 | node-oidc-provider | node-oidc-provider-w2
#           (default: the first three; -w2 = node:cluster with 2 workers)
# Env: RUNS (3), DURATION (10s), THREADS (2), CONNECTIONS (16), WARMUP (2s, 0 = none),
#      PYTHON (repo .venv python), OUT (results dir, default: mktemp -d),
#      WRK_BODY (form body sent to every server; default below),
#      BASE_PORT (18101: the configs listen on BASE_PORT .. BASE_PORT+3),
#      READY_TIMEOUT (30: seconds for a server to answer a token request; then one more start).
#
# Every server is bound to 127.0.0.1 and stopped (by PID) when its config ends,
# also on error/interrupt. Each wrk run is wrapped in `timeout`.
# RSS of every server process is sampled with `ps -o rss` half-way through each run, and the CPU time of
# the server's processes (utime+stime from /proc) is read around each run: $OUT/cpu.tsv holds
# "label run server_ticks db_ticks wall_s clk_tck" (db_ticks is 0 here: no database).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
RUNS="${RUNS:-3}"
DURATION="${DURATION:-10s}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-16}"
WARMUP="${WARMUP:-2s}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
OUT="${OUT:-$(mktemp -d -t consentry-bench.XXXXXX)}"
BASE_PORT="${BASE_PORT:-18101}"
READY_TIMEOUT="${READY_TIMEOUT:-30}"
mkdir -p "$OUT"
export WRK_BODY="${WRK_BODY:-client_id=bench-client&client_secret=bench-secret&grant_type=client_credentials&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default}"
RESULTS="$OUT/results.jsonl"
RSS="$OUT/rss.tsv"
CPU="$OUT/cpu.tsv"
CLK_TCK="$(getconf CLK_TCK)"
: >"$RESULTS"
: >"$RSS"
: >"$CPU"

command -v wrk >/dev/null || { echo "wrk not found (apt-get install -y wrk)" >&2; exit 1; }

SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      # Children first (uvicorn workers), then the parent.
      for c in $(ps -o pid= --ppid "$SERVER_PID"); do kill -KILL "$c" 2>/dev/null || true; done
      kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
trap stop_server EXIT
# Without the exit, bash would carry on with the next config after the handler.
trap 'stop_server; exit 143' INT TERM

wait_ready() { # url
  for _ in $(seq "$((READY_TIMEOUT * 5))"); do
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X POST \
      -H 'Content-Type: application/x-www-form-urlencoded' --data "$WRK_BODY" "$1" || true)"
    [ "$code" = "200" ] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "server exited" >&2; return 1; }
    sleep 0.2
  done
  echo "server not ready at $1 (last status $code)" >&2
  return 1
}

sample_rss() { # label run
  local label="$1" run="$2" total=0
  {
    while read -r pid ppid rss args; do
      if [ "$pid" = "$SERVER_PID" ]; then role="main"; elif [[ "$args" == *resource_tracker* ]]; then role="resource_tracker"; else role="worker"; fi
      # A single-process server (uvicorn --workers 1, node) is its own worker.
      if [ "$role" = "main" ] && [ -z "$(ps -o pid= --ppid "$SERVER_PID")" ]; then role="worker"; fi
      printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$run" "$pid" "$rss" "$role"
      total=$((total + rss))
    done < <(ps -o pid=,ppid=,rss=,args= --pid "$SERVER_PID" --ppid "$SERVER_PID")
    printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$run" "-" "$total" "total"
  } >>"$RSS"
  ps -o pid=,ppid=,rss=,args= --pid "$SERVER_PID" --ppid "$SERVER_PID" >>"$OUT/$label.ps.txt"
}

server_ticks() { # utime+stime of the server and its child processes, in clock ticks
  local total=0 p v
  for p in "$SERVER_PID" $(ps -o pid= --ppid "$SERVER_PID" || true); do
    v="$(awk '{print $(NF-38) + $(NF-37)}' "/proc/$p/stat" 2>/dev/null)" && total=$((total + v))
  done
  echo "$total"
}

run_config() { # label port start-command...
  local label="$1" port="$2"; shift 2
  local url="http://127.0.0.1:$port/token"
  echo "== $label: $*" >&2
  : >"$OUT/$label.server.log"
  # A server that has not answered within READY_TIMEOUT is stopped and started once more (node has been
  # seen, rarely, to hang during start-up on this shared machine).
  for attempt in 1 2; do
    "$@" >>"$OUT/$label.server.log" 2>&1 &
    SERVER_PID=$!
    if wait_ready "$url"; then break; fi
    stop_server
    echo "$label: not ready (attempt $attempt), see $OUT/$label.server.log" >&2
    [ "$attempt" = 2 ] && return 1
  done
  if [ "$WARMUP" != "0" ]; then
    timeout 60 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -s "$HERE/post_form.lua" "$url" >/dev/null
  fi
  local secs="${DURATION%s}"
  for run in $(seq "$RUNS"); do
    ( sleep "$((secs / 2))"; sample_rss "$label" "$run" ) &
    local sampler=$! t0 c0
    t0="$(date +%s.%N)"; c0="$(server_ticks)"
    WRK_LABEL="$label" WRK_JSON_FILE="$RESULTS" \
      timeout "$((secs + 60))" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" \
      -s "$HERE/post_form.lua" "$url" >>"$OUT/$label.wrk.txt" 2>&1
    printf '%s\t%s\t%s\t0\t%s\t%s\n' "$label" "$run" "$(( $(server_ticks) - c0 ))" \
      "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')" "$CLK_TCK" >>"$CPU"
    wait "$sampler" || true
    tail -n 1 "$RESULTS" >&2
  done
  stop_server
}

CONFIGS=("$@")
[ ${#CONFIGS[@]} -gt 0 ] || CONFIGS=(bare_jwt-w1 bare_jwt-w2 node-oidc-provider)
for cfg in "${CONFIGS[@]}"; do
  case "$cfg" in
    bare_jwt-w1) p=$((BASE_PORT)); run_config "$cfg" "$p" "$PYTHON" "$ROOT/bench/baselines/bare_jwt.py" --port "$p" --workers 1 ;;
    bare_jwt-w2) p=$((BASE_PORT + 1)); run_config "$cfg" "$p" "$PYTHON" "$ROOT/bench/baselines/bare_jwt.py" --port "$p" --workers 2 ;;
    node-oidc-provider) p=$((BASE_PORT + 2)); run_config "$cfg" "$p" "$ROOT/bench/baselines/node-oidc-provider/run.sh" "$p" ;;
    node-oidc-provider-w2) p=$((BASE_PORT + 3)); run_config "$cfg" "$p" env WORKERS=2 "$ROOT/bench/baselines/node-oidc-provider/run.sh" "$p" ;;
    *) echo "unknown config: $cfg" >&2; exit 2 ;;
  esac
done

echo "results: $OUT" >&2
"$PYTHON" "$HERE/summarize.py" "$RESULTS" "$RSS"
