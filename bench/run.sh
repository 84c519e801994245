#!/usr/bin/env bash
# Consentry's benchmark: `make bench` (see bench/README.md for what is measured and why).
#
# In one run, all on 127.0.0.1:
#   1. argon2id bound: verifications/s with the configured parameters in W processes (bench/signin_load.py argon2)
#   2. baselines: bare RS256 endpoint with 1 and 2 workers, node-oidc-provider (bench/wrk/run_baselines.sh)
#   3. Consentry, for each backend (SQLite, PostgreSQL in a fresh database) x workers (1, 2), seeded by
#      bench/seed.py before the server starts (`consentry serve --http`):
#        client-credentials tokens/s with wrk (bench/wrk/post_form.lua), then
#        authorization-code + PKCE sign-ins/s (bench/signin_load.py load);
#      RSS of every server process sampled half-way through each run.
#   4. the table, the target ratios and bench/results/<timestamp>.json (bench/wrk/report.py).
#   5. phase graph: for each backend, a tenant of 100,000 service principals and 1,000,000 oauth2PermissionGrants
#      (bench/graph_seed.py, bulk inserts), `consentry serve --http --workers 1`, an administrator's Graph token
#      (ROPC), then wrk (bench/wrk/get_bearer.lua) on the first and a deep page ($skiptoken found by walking the
#      nextLinks) of /v1.0/servicePrincipals and /v1.0/oauth2PermissionGrants with $top=100, and on
#      $filter=appId eq '...'; its own table and ratios, added to the JSON as "graph" (bench/graph_load.py).
#   6. phase consent: for each backend, a database with 100,000 service principals, 1,000,000 grants and 100
#      permission grant policies and one with 1,000 grants (bench/consent_seed.py, bulk inserts); the consent
#      decision in-process (bench/consent_bench.py decide: uncached, cold and cached, p50/p99 and decisions/s,
#      1k vs 1M), then `consentry serve --http --workers 1` on the large one, users signed in once through the
#      sign-in form, and the whole GET /authorize round trip with their session cookies (consented: 302 with a
#      code; not: 302 to the consent page); its own table, added to the JSON as "consent".
#   7. phase requests (admin consent requests, in-process, bench/request_bench.py), for each backend and round, each
#      on a fresh database: BENCH_REQUESTS_USERS users submitting requests for one app at once from each of
#      BENCH_REQUESTS_THREADS threads (one aggregate, one request and two mails per user, no error), and the expiry
#      job (run_due) over BENCH_REQUESTS_PENDING overdue requests seeded in bulk (time, requests/s, RSS); its
#      own table (bench/request_bench.py report).
#
# Environment (defaults in brackets):
#   BENCH_DURATION [10]  seconds per measured run      BENCH_RUNS [3]       runs per configuration (median)
#   BENCH_WARMUP [2]     seconds of warm-up per config  BENCH_THREADS [2], BENCH_CONNECTIONS [16]  wrk -t/-c
#   BENCH_SIGNIN_CONCURRENCY [8]  virtual users of the sign-in load
#   BENCH_WORKERS ["1 2"]  BENCH_BACKENDS ["sqlite postgresql"]
#   BENCH_BASELINES ["bare_jwt-w1 bare_jwt-w2 node-oidc-provider"] (also: node-oidc-provider-w2)
#   BENCH_PHASES ["argon2 baselines cc signin graph consent"]  any subset
#   BENCH_GRAPH_SERVICE_PRINCIPALS [100000], BENCH_GRAPH_GRANTS [1000000]  seeded for phase graph
#   BENCH_GRAPH_CONNECTIONS [4]  wrk -c of phase graph   BENCH_GRAPH_DEPTH [0.9]  the deep page, fraction of pages
#   BENCH_GRAPH_WALK_BUDGET [60]  seconds, at most, of following nextLinks per collection to reach the deep page
#   BENCH_CONSENT_SERVICE_PRINCIPALS [100000], BENCH_CONSENT_GRANTS [1000000], BENCH_CONSENT_SMALL_GRANTS [1000],
#   BENCH_CONSENT_USERS [50000], BENCH_CONSENT_POLICIES [100]  seeded for phase consent
#   BENCH_CONSENT_SIZES ["small large"]  BENCH_CONSENT_DURATION [BENCH_DURATION]  seconds per decision mode/load run
#   BENCH_CONSENT_SESSIONS [200]  users signed in for the round trip  BENCH_CONSENT_CONNECTIONS ["1 4"]  its loads
#   BENCH_CONSENT_PROFILE [0]  1: also cProfile the uncached decision on each backend (first round)
#   BENCH_REQUESTS_USERS [1000], BENCH_REQUESTS_THREADS ["16 32"], BENCH_REQUESTS_PENDING [100000],
#   BENCH_REQUESTS_APPS [100]  phase requests (submissions per thread count; overdue requests over that many apps)
#   BENCH_PG_ADMIN_URL [postgresql://postgres@127.0.0.1:5432/test]  where CREATE/DROP DATABASE run
#   BENCH_RESULTS_DIR [bench/results]  BENCH_KEEP_DATA [0]  keep the SQLite data directories
#   BENCH_QUIET_WAIT [0]  seconds to wait, at most, for other processes to use <= BENCH_QUIET_MAX [15] % CPU
#   CONSENTRY_* (e.g. CONSENTRY_ARGON2_TIME_COST, CONSENTRY_LOG_LEVEL) reach the seed, the bound and the server.
#
# Every server is stopped by PID when its configuration ends, and on error or interrupt (trap); the
# PostgreSQL database is dropped at the end. Exit status 1 when any run saw a non-2xx response, a socket
# error or a failed sign-in.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
cd "$ROOT"

DURATION="${BENCH_DURATION:-10}"
RUNS="${BENCH_RUNS:-3}"
WARMUP="${BENCH_WARMUP:-2}"
THREADS="${BENCH_THREADS:-2}"
CONNECTIONS="${BENCH_CONNECTIONS:-16}"
SIGNIN_CONCURRENCY="${BENCH_SIGNIN_CONCURRENCY:-8}"
WORKERS_LIST="${BENCH_WORKERS:-1 2}"
BACKENDS="${BENCH_BACKENDS:-sqlite postgresql}"
BASELINES="${BENCH_BASELINES:-bare_jwt-w1 bare_jwt-w2 node-oidc-provider}"
PHASES=" ${BENCH_PHASES:-argon2 baselines cc signin graph consent requests} "
GRAPH_SPS="${BENCH_GRAPH_SERVICE_PRINCIPALS:-100000}"
GRAPH_GRANTS="${BENCH_GRAPH_GRANTS:-1000000}"
GRAPH_CONNECTIONS="${BENCH_GRAPH_CONNECTIONS:-4}"
GRAPH_DEPTH="${BENCH_GRAPH_DEPTH:-0.9}"
GRAPH_BUDGET="${BENCH_GRAPH_WALK_BUDGET:-60}"
CONSENT_SPS="${BENCH_CONSENT_SERVICE_PRINCIPALS:-100000}"
CONSENT_GRANTS="${BENCH_CONSENT_GRANTS:-1000000}"
CONSENT_SMALL_GRANTS="${BENCH_CONSENT_SMALL_GRANTS:-1000}"
CONSENT_USERS="${BENCH_CONSENT_USERS:-50000}"
CONSENT_POLICIES="${BENCH_CONSENT_POLICIES:-100}"
CONSENT_SIZES="${BENCH_CONSENT_SIZES:-small large}"
CONSENT_DURATION="${BENCH_CONSENT_DURATION:-$DURATION}"
CONSENT_SESSIONS="${BENCH_CONSENT_SESSIONS:-200}"
CONSENT_CONNECTIONS="${BENCH_CONSENT_CONNECTIONS:-1 4}"
CONSENT_PROFILE="${BENCH_CONSENT_PROFILE:-0}"
REQUESTS_USERS="${BENCH_REQUESTS_USERS:-1000}"
REQUESTS_THREADS="${BENCH_REQUESTS_THREADS:-16 32}"
REQUESTS_PENDING="${BENCH_REQUESTS_PENDING:-100000}"
REQUESTS_APPS="${BENCH_REQUESTS_APPS:-100}"
PG_ADMIN_URL="${BENCH_PG_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/test}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
CONSENTRY="${CONSENTRY:-$ROOT/.venv/bin/consentry}"
RESULTS_DIR="${BENCH_RESULTS_DIR:-$ROOT/bench/results}"
TS="$(date -u +%Y%m%dT%H%M%SZ)"
RUN_DIR="$RESULTS_DIR/$TS"          # logs and raw JSON lines of this run
OUT_JSON="$RESULTS_DIR/$TS.json"
RESULTS="$RUN_DIR/results.jsonl"
RSS="$RUN_DIR/rss.tsv"
CPU="$RUN_DIR/cpu.tsv"
CLK_TCK="$(getconf CLK_TCK)"
PG_DB="bench_$(echo "$TS" | tr 'A-Z' 'a-z')"
PG_URL="${PG_ADMIN_URL%/*}/$PG_DB"
PG_GRAPH_DB="${PG_DB}_graph"
PG_GRAPH_URL="${PG_ADMIN_URL%/*}/$PG_GRAPH_DB"
GRAPH_RESULTS="$RUN_DIR/graph.jsonl"   # phase graph's wrk JSON lines (bench/graph_load.py report reads them)
CONSENT_RESULTS="$RUN_DIR/consent.jsonl"  # phase consent's JSON lines (bench/consent_bench.py report reads them)
REQUESTS_RESULTS="$RUN_DIR/requests.jsonl"  # phase requests' JSON lines (bench/request_bench.py report reads them)

phase() { [[ "$PHASES" == *" $1 "* ]]; }
exec 3>&2  # the progress log, also from a trap that fires while a helper's output is redirected
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&3; }
die() { log "ERROR: $*"; exit 1; }

if phase baselines || phase cc || phase graph; then  # phases argon2, signin and consent load with Python
  command -v wrk >/dev/null || die "wrk not found (apt-get install -y wrk)"
fi
command -v curl >/dev/null || die "curl not found"
[ -x "$PYTHON" ] || die "$PYTHON not found (make test-deps: pip install -e '.[test]')"
[ -x "$CONSENTRY" ] || die "$CONSENTRY not found"
mkdir -p "$RUN_DIR"
: >"$RESULTS"
: >"$RSS"
: >"$CPU"
: >"$GRAPH_RESULTS"
: >"$CONSENT_RESULTS"
: >"$REQUESTS_RESULTS"

# --------------------------------------------------------------------------- processes and cleanup --
FAILED=0        # set when a step failed but the run went on; the exit status is then 1
SERVER_PID=""   # the Consentry server being measured
CHILD_PID=""    # a long-running helper (baseline script, load generator) we wait on
PG_CREATED=0
PG_GRAPH_CREATED=0
PG_CONSENT_DBS=()  # phase consent's databases, dropped at the end
PG_REQUEST_DBS=()  # phase requests' databases (one per measurement), dropped at the end
DATA_DIRS=()

stop_pid() { # pid: TERM, wait up to 5 s, then KILL it and its children
  local pid="$1"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    for c in $(ps -o pid= --ppid "$pid"); do kill -KILL "$c" 2>/dev/null || true; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
stop_server() { stop_pid "$SERVER_PID"; SERVER_PID=""; }

pg() { # SQL statement against the admin database
  "$PYTHON" - "$PG_ADMIN_URL" "$1" <<'EOF'
import sys, psycopg
with psycopg.connect(sys.argv[1], autocommit=True, connect_timeout=10) as conn:
    conn.execute(sys.argv[2])
EOF
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$CHILD_PID"
  stop_server
  if [ "$PG_CREATED" = 1 ]; then
    pg "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" && log "dropped database $PG_DB" \
      || log "could not drop database $PG_DB"
  fi
  if [ "$PG_GRAPH_CREATED" = 1 ]; then
    pg "DROP DATABASE IF EXISTS \"$PG_GRAPH_DB\" WITH (FORCE)" && log "dropped database $PG_GRAPH_DB" \
      || log "could not drop database $PG_GRAPH_DB"
  fi
  local db
  for db in "${PG_CONSENT_DBS[@]+"${PG_CONSENT_DBS[@]}"}" "${PG_REQUEST_DBS[@]+"${PG_REQUEST_DBS[@]}"}"; do
    pg "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" && log "dropped database $db" || log "could not drop database $db"
  done
  if [ "${BENCH_KEEP_DATA:-0}" = 0 ]; then
    for d in "${DATA_DIRS[@]+"${DATA_DIRS[@]}"}"; do rm -rf "$d"; done
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 143' INT TERM

run_child() { # run a helper in the background and wait for it, so that a signal reaches our trap at once
  "$@" &
  CHILD_PID=$!
  local rc=0
  wait "$CHILD_PID" || rc=$?
  CHILD_PID=""
  return "$rc"
}

free_port() {
  "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ------------------------------------------------------------------------------------ measurements --
cpu_busy_percent() { # CPU busy % over 3 s of every process on the machine (how noisy is it before we start?)
  "$PYTHON" - <<'EOF'
import time
def snap():
    with open("/proc/stat") as fh:
        v = [int(x) for x in fh.readline().split()[1:]]
    return sum(v), v[3] + v[4]
t0, i0 = snap(); time.sleep(3); t1, i1 = snap()
print(round(100 * (1 - (i1 - i0) / max(1, t1 - t0)), 1))
EOF
}

sample_rss() { # label run: RSS of the server and each of its child processes
  local label="$1" run="$2" pid="$SERVER_PID" total=0 role
  [ -n "$pid" ] || return 0
  local children
  children="$( (ps -o pid= --ppid "$pid" || true) | tr -d ' ')"
  {
    while read -r p _ppid rss args; do
      if [ "$p" = "$pid" ]; then role=main; [ -z "$children" ] && role=worker
      elif [[ "$args" == *resource_tracker* ]]; then role=resource_tracker
      else role=worker; fi
      printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$run" "$p" "$rss" "$role"
      total=$((total + rss))
    done < <(ps -o pid=,ppid=,rss=,args= --pid "$pid" --ppid "$pid" || true)
    printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$run" "-" "$total" "total"
  } >>"$RSS"
}

wait_token() { # url body: until the token endpoint answers 200 with an access token carrying the role
  local url="$1" body="$2" out="$RUN_DIR/token-check.json" code=""
  for _ in $(seq 150); do
    code="$(curl -s -o "$out" -w '%{http_code}' --max-time 5 -X POST \
      -H 'Content-Type: application/x-www-form-urlencoded' --data "$body" "$url" || true)"
    [ "$code" = 200 ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { log "ERROR: the server exited; see its log"; return 1; }
    sleep 0.2
  done
  [ "$code" = 200 ] || { log "ERROR: token request to $url answered $code: $(head -c 300 "$out")"; return 1; }
  "$PYTHON" - "$out" "$3" <<'EOF' || { log "ERROR: the token from $url is not what the benchmark expects"; return 1; }
import base64, json, sys
body = json.load(open(sys.argv[1]))
payload = body["access_token"].split(".")[1]
claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
assert body["token_type"] == "Bearer", body
assert sys.argv[2] in claims.get("roles", []), claims
EOF
}

brief() { "$PYTHON" "$HERE/wrk/report.py" --brief "$RESULTS"; }

proc_ticks() { # pid...: their utime+stime in clock ticks (fields counted from the end: comm may hold spaces)
  local total=0 p v
  for p in "$@"; do
    v="$(awk '{print $(NF-38) + $(NF-37)}' "/proc/$p/stat" 2>/dev/null)" && total=$((total + v))
  done
  echo "$total"
}
server_ticks() { proc_ticks "$SERVER_PID" $(ps -o pid= --ppid "$SERVER_PID" || true); }
db_ticks() { if [ "$1" = postgresql ]; then proc_ticks $(ps -C postgres -o pid= || true); else echo 0; fi; }
CPU_T0="" CPU_S0="" CPU_D0=""
cpu_start() { CPU_T0="$(date +%s.%N)"; CPU_S0="$(server_ticks)"; CPU_D0="$(db_ticks "$1")"; }
cpu_stop() { # label round backend: append "label round server_ticks db_ticks wall_s clk_tck" to cpu.tsv
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$(( $(server_ticks) - CPU_S0 ))" "$(( $(db_ticks "$3") - CPU_D0 ))" \
    "$(awk -v a="$CPU_T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')" "$CLK_TCK" >>"$CPU"
}

run_wrk() { # label url round backend: one measured run (after a warm-up), RSS sampled half-way through
  local label="$1" url="$2" round="$3" backend="$4"
  timeout $((WARMUP + 60)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" \
    -s "$HERE/wrk/post_form.lua" "$url" >/dev/null 2>&1 || true
  ( sleep $((DURATION / 2)); sample_rss "$label" "$round" ) &
  local sampler=$!
  cpu_start "$backend"
  WRK_LABEL="$label" WRK_JSON_FILE="$RESULTS" run_child timeout $((DURATION + 60)) \
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -s "$HERE/wrk/post_form.lua" "$url" \
    >>"$RUN_DIR/$label.wrk.txt" 2>&1 || { FAILED=1; log "ERROR: wrk failed (see $RUN_DIR/$label.wrk.txt)"; }
  cpu_stop "$label" "$round" "$backend"
  wait "$sampler" || true
  log "$label round $round: $(brief)"
}

run_signins() { # label base-url seed-file round backend: a warm-up, then one measured run
  local label="$1" base="$2" seed="$3" round="$4" backend="$5" signin_warmup=1
  run_child "$PYTHON" "$HERE/signin_load.py" load --base-url "$base" --seed "$seed" \
    --concurrency "$SIGNIN_CONCURRENCY" --duration "$WARMUP" --warmup 0 --label "$label-warmup" \
    >>"$RUN_DIR/$label.txt" 2>&1 || true
  ( sleep $((signin_warmup + DURATION / 2)); sample_rss "$label" "$round" ) &
  local sampler=$!
  cpu_start "$backend"
  run_child "$PYTHON" "$HERE/signin_load.py" load --base-url "$base" --seed "$seed" \
    --concurrency "$SIGNIN_CONCURRENCY" --duration "$DURATION" --warmup "$signin_warmup" --label "$label" \
    --json-file "$RESULTS" >>"$RUN_DIR/$label.txt" 2>&1 \
    || { FAILED=1; log "ERROR: the sign-in load failed (see $RUN_DIR/$label.txt)"; }
  cpu_stop "$label" "$round" "$backend"
  wait "$sampler" || true
  log "$label round $round: $(brief)"
}

seed_field() { "$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

consentry_config() { # backend workers data-dir seed-file db-url round
  local backend="$1" workers="$2" data="$3" seed="$4" db="$5" round="$6" port label
  port="$(free_port)"
  label="$backend-w$workers"
  local args=(serve --http --port "$port" --workers "$workers" --data-dir "$data")
  [ -n "$db" ] && args+=(--db "$db")
  log "== Consentry $label (round $round): consentry ${args[*]}"
  "$CONSENTRY" "${args[@]}" >>"$RUN_DIR/consentry-$label.log" 2>&1 3>&- &
  SERVER_PID=$!
  local tenant body base="http://127.0.0.1:$port"
  tenant="$(seed_field "$seed" tenant_id)"
  body="$("$PYTHON" -c 'import json, sys, urllib.parse; s = json.load(open(sys.argv[1])); print(urllib.parse.urlencode({"client_id": s["cc_client_id"], "client_secret": s["cc_client_secret"], "grant_type": "client_credentials", "scope": s["cc_scope"]}))' "$seed")"
  local url="$base/$tenant/oauth2/v2.0/token"
  if ! wait_token "$url" "$body" "$(seed_field "$seed" cc_role)"; then
    FAILED=1; stop_server; log "ERROR: skipping Consentry $label in round $round (see $RUN_DIR/consentry-$label.log)"
    return 0
  fi
  # The port answers as soon as one worker is up: wait (bounded) for the others before measuring.
  if [ "$workers" -gt 1 ]; then
    for _ in $(seq 100); do
      [ "$( (ps -o args= --ppid "$SERVER_PID" || true) | grep -vc resource_tracker)" -ge "$workers" ] && break
      sleep 0.1
    done
    sleep 1
  fi
  if phase cc; then WRK_BODY="$body" run_wrk "cc-$label" "$url" "$round" "$backend"; fi
  if phase signin; then run_signins "signin-$label" "$base" "$seed" "$round" "$backend"; fi
  stop_server
}

# ------------------------------------------------------------------------------------ phase graph --
wait_server_idle() { # until the server used < 5 % of a core over 0.5 s (at most 60 s): wrk leaves its last
  # requests running in the server when it stops, and a slow page would otherwise eat into the next run
  local before
  for _ in $(seq 120); do
    before="$(server_ticks)"
    sleep 0.5
    [ $(( $(server_ticks) - before )) -le $((CLK_TCK / 40)) ] && return 0
  done
  log "the server was still busy 60 s after the load stopped"
}

run_graph_wrk() { # label url round backend token-file: GETs with the bearer token, warm-up then one measured run
  local label="$1" url="$2" round="$3" backend="$4" auth threads="$THREADS"
  auth="Bearer $(cat "$5")"
  [ "$GRAPH_CONNECTIONS" -lt "$threads" ] && threads="$GRAPH_CONNECTIONS"
  # --timeout 30s: wrk's default of 2 s would drop, not time, the slowest pages.
  local wrk_args=(-t"$threads" -c"$GRAPH_CONNECTIONS" --timeout 30s -s "$HERE/wrk/get_bearer.lua" "$url")
  WRK_AUTH="$auth" timeout $((WARMUP + 60)) wrk -d"${WARMUP}s" "${wrk_args[@]}" >/dev/null 2>&1 </dev/null || true
  wait_server_idle
  ( sleep $((DURATION / 2)); sample_rss "$label" "$round" ) &
  local sampler=$!
  cpu_start "$backend"
  WRK_AUTH="$auth" WRK_LABEL="$label" WRK_JSON_FILE="$GRAPH_RESULTS" run_child timeout $((DURATION + 60)) \
    wrk -d"${DURATION}s" "${wrk_args[@]}" >>"$RUN_DIR/$label.wrk.txt" 2>&1 </dev/null \
    || { FAILED=1; log "ERROR: wrk failed (see $RUN_DIR/$label.wrk.txt)"; }
  cpu_stop "$label" "$round" "$backend"
  wait "$sampler" || true
  log "$label round $round: $("$PYTHON" "$HERE/wrk/report.py" --brief "$GRAPH_RESULTS")"
  wait_server_idle
}

graph_config() { # backend round: one server on the graph seed of this backend, every target measured once
  local backend="$1" round="$2" port label="graph-$1"
  port="$(free_port)"
  local args=(serve --http --port "$port" --workers 1 --data-dir "${GRAPH_DATA[$backend]}")
  [ -n "${GRAPH_DB[$backend]}" ] && args+=(--db "${GRAPH_DB[$backend]}")
  log "== Graph paging $backend (round $round): consentry ${args[*]}"
  "$CONSENTRY" "${args[@]}" >>"$RUN_DIR/consentry-$label.log" 2>&1 3>&- &
  SERVER_PID=$!
  local base="http://127.0.0.1:$port" seed="${GRAPH_SEED[$backend]}" token="$RUN_DIR/graph-token-$backend"
  local targets="$RUN_DIR/graph-targets-$backend.json"
  if ! run_child "$PYTHON" "$HERE/graph_load.py" token --base-url "$base" --seed "$seed" --out "$token" --wait 30 \
      || ! kill -0 "$SERVER_PID" 2>/dev/null; then
    FAILED=1; stop_server; log "ERROR: no Graph token; skipping $label in round $round (see $RUN_DIR/consentry-$label.log)"
    return 0
  fi
  if [ ! -f "$targets" ]; then  # once per backend: the skiptokens stay valid, the data does not change
    log "following the nextLinks to page ~$GRAPH_DEPTH of each list (at most ${GRAPH_BUDGET}s per collection)"
    run_child timeout $((2 * GRAPH_BUDGET + 300)) "$PYTHON" "$HERE/graph_load.py" walk --base-url "$base" \
      --seed "$seed" --token-file "$token" --out "$targets" --depth "$GRAPH_DEPTH" --budget "$GRAPH_BUDGET" \
      || { FAILED=1; log "ERROR: the walk of $backend found problems (see $targets)"; }
  fi
  local lines=()
  [ -f "$targets" ] && mapfile -t lines < <("$PYTHON" "$HERE/graph_load.py" urls --targets "$targets")
  local line
  for line in "${lines[@]+"${lines[@]}"}"; do
    run_graph_wrk "$label-${line%%$'\t'*}" "$base${line#*$'\t'}" "$round" "$backend" "$token"
  done
  stop_server
}

# ---------------------------------------------------------------------------------- phase consent --
consent_decide() { # backend size round: the decision in-process (uncached, cold, cached), one JSON line per mode
  local backend="$1" size="$2" round="$3" key="$1-$2"
  log "== consent decision $key (round $round), in-process"
  run_child timeout $((4 * CONSENT_DURATION + WARMUP + 300)) "$PYTHON" "$HERE/consent_bench.py" decide \
    --data-dir "${CONSENT_DATA[$key]}" ${CONSENT_DB[$key]:+--db "${CONSENT_DB[$key]}"} --seed "${CONSENT_SEED[$key]}" \
    --size "$size" --duration "$CONSENT_DURATION" --warmup "$WARMUP" --round "$round" --random-seed "$round" \
    --json-file "$CONSENT_RESULTS" >/dev/null 2>>"$RUN_DIR/consent-decide-$key.txt" \
    || { FAILED=1; log "ERROR: the consent decision of $key failed or answered wrongly (see $RUN_DIR/consent-decide-$key.txt)"; }
  log "$(tail -n 3 "$RUN_DIR/consent-decide-$key.txt" | sed 's/^consent_bench: //' | tr '\n' ';')"
}

consent_round_trip() { # backend round: a server on the large seed; sessions once; the /authorize loads
  local backend="$1" round="$2" size port key
  for size in $CONSENT_SIZES; do key="$backend-$size"; done  # the last (largest) size
  port="$(free_port)"
  local args=(serve --http --port "$port" --workers 1 --data-dir "${CONSENT_DATA[$key]}")
  [ -n "${CONSENT_DB[$key]}" ] && args+=(--db "${CONSENT_DB[$key]}")
  log "== consent round trip $key (round $round): consentry ${args[*]}"
  "$CONSENTRY" "${args[@]}" >>"$RUN_DIR/consentry-consent-$backend.log" 2>&1 3>&- &
  SERVER_PID=$!
  local base="http://127.0.0.1:$port" sessions="$RUN_DIR/consent-sessions-$backend.json"
  if [ ! -f "$sessions" ]; then  # sessions outlive the server (they are rows), so sign in once per backend
    if ! run_child "$PYTHON" "$HERE/consent_bench.py" sessions --base-url "$base" --seed "${CONSENT_SEED[$key]}" \
        --out "$sessions" 2>>"$RUN_DIR/consent-load-$backend.txt"; then
      FAILED=1; stop_server; rm -f "$sessions"
      log "ERROR: signing the users in failed; skipping the round trip of $backend (see $RUN_DIR/consent-load-$backend.txt)"
      return 0
    fi
    log "$(tail -n 1 "$RUN_DIR/consent-load-$backend.txt" | sed 's/^consent_bench: //')"
  fi
  local c variant
  for c in $CONSENT_CONNECTIONS; do
    for variant in cold cached; do
      run_child timeout $((CONSENT_DURATION + WARMUP + 120)) "$PYTHON" "$HERE/consent_bench.py" load \
        --data-dir "${CONSENT_DATA[$key]}" ${CONSENT_DB[$key]:+--db "${CONSENT_DB[$key]}"} \
        --seed "${CONSENT_SEED[$key]}" --base-url "$base" --sessions-file "$sessions" --variant "$variant" \
        --concurrency "$c" --duration "$CONSENT_DURATION" --warmup "$WARMUP" --server-pid "$SERVER_PID" \
        --label "authorize-$backend-c$c-$variant" --round "$round" --random-seed "$round" \
        --json-file "$CONSENT_RESULTS" >/dev/null 2>>"$RUN_DIR/consent-load-$backend.txt" \
        || { FAILED=1; log "ERROR: /authorize load $backend c$c $variant failed (see $RUN_DIR/consent-load-$backend.txt)"; }
      log "$(tail -n 1 "$RUN_DIR/consent-load-$backend.txt" | sed 's/^consent_bench: //')"
    done
  done
  stop_server
}

# ------------------------------------------------------------------------------------------- the run --
# Configurations are measured in rounds (each round runs every configuration once), so that a change in
# the machine's background load during the run touches every configuration alike, and the ratios compare
# figures taken minutes apart at most.
log "Consentry benchmark $TS: $RUNS rounds x ${DURATION}s per configuration, warm-up ${WARMUP}s; output $RUN_DIR"
BACKGROUND_BEFORE="$(cpu_busy_percent)"
log "background CPU use before starting: ${BACKGROUND_BEFORE}% (other processes on this machine)"
quiet_deadline=$(( $(date +%s) + ${BENCH_QUIET_WAIT:-0} ))
while awk -v b="$BACKGROUND_BEFORE" -v m="${BENCH_QUIET_MAX:-15}" 'BEGIN { exit !(b > m) }' \
    && [ "$(date +%s)" -lt "$quiet_deadline" ]; do
  log "waiting for the machine to quieten (busy ${BACKGROUND_BEFORE}% > ${BENCH_QUIET_MAX:-15}%)"
  sleep 5
  BACKGROUND_BEFORE="$(cpu_busy_percent)"
done
STARTED_AT="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

declare -A DATA SEED DB
if phase cc || phase signin; then
  for backend in $BACKENDS; do
    DATA[$backend]="$RUN_DIR/data-$backend"
    DATA_DIRS+=("${DATA[$backend]}")
    DB[$backend]=""
    case "$backend" in
      sqlite) ;;
      postgresql)
        pg "CREATE DATABASE \"$PG_DB\"" || die "cannot create database $PG_DB at $PG_ADMIN_URL"
        PG_CREATED=1
        DB[$backend]="$PG_URL"
        log "created database $PG_DB" ;;
      *) die "unknown backend $backend (sqlite, postgresql)" ;;
    esac
    SEED[$backend]="$RUN_DIR/seed-$backend.json"
    log "seeding $backend"
    "$PYTHON" "$HERE/seed.py" --data-dir "${DATA[$backend]}" ${DB[$backend]:+--db "${DB[$backend]}"} \
      --users "$SIGNIN_CONCURRENCY" >"${SEED[$backend]}" || die "bench/seed.py failed for $backend"
  done
fi

declare -A GRAPH_DATA GRAPH_SEED GRAPH_DB
if phase graph; then
  for backend in $BACKENDS; do
    GRAPH_DATA[$backend]="$RUN_DIR/data-graph-$backend"
    DATA_DIRS+=("${GRAPH_DATA[$backend]}")
    GRAPH_DB[$backend]=""
    case "$backend" in
      sqlite) ;;
      postgresql)
        pg "CREATE DATABASE \"$PG_GRAPH_DB\"" || die "cannot create database $PG_GRAPH_DB at $PG_ADMIN_URL"
        PG_GRAPH_CREATED=1
        GRAPH_DB[$backend]="$PG_GRAPH_URL"
        log "created database $PG_GRAPH_DB" ;;
      *) die "unknown backend $backend (sqlite, postgresql)" ;;
    esac
    GRAPH_SEED[$backend]="$RUN_DIR/graph-seed-$backend.json"
    log "seeding $backend for the Graph paging benchmark: $GRAPH_SPS service principals, $GRAPH_GRANTS grants"
    run_child timeout 900 "$PYTHON" "$HERE/graph_seed.py" --data-dir "${GRAPH_DATA[$backend]}" \
      ${GRAPH_DB[$backend]:+--db "${GRAPH_DB[$backend]}"} --service-principals "$GRAPH_SPS" --grants "$GRAPH_GRANTS" \
      >"${GRAPH_SEED[$backend]}" || die "bench/graph_seed.py failed for $backend"
  done
fi

declare -A CONSENT_DATA CONSENT_SEED CONSENT_DB
if phase consent; then
  for backend in $BACKENDS; do
    for size in $CONSENT_SIZES; do
      key="$backend-$size"
      CONSENT_DATA[$key]="$RUN_DIR/data-consent-$key"
      DATA_DIRS+=("${CONSENT_DATA[$key]}")
      CONSENT_DB[$key]=""
      case "$backend" in
        sqlite) ;;
        postgresql)
          db="${PG_DB}_consent_$size"
          pg "CREATE DATABASE \"$db\"" || die "cannot create database $db at $PG_ADMIN_URL"
          PG_CONSENT_DBS+=("$db")
          CONSENT_DB[$key]="${PG_ADMIN_URL%/*}/$db"
          log "created database $db" ;;
        *) die "unknown backend $backend (sqlite, postgresql)" ;;
      esac
      case "$size" in
        small) grants="$CONSENT_SMALL_GRANTS" ;;
        large) grants="$CONSENT_GRANTS" ;;
        *) die "unknown consent size $size (small, large)" ;;
      esac
      CONSENT_SEED[$key]="$RUN_DIR/consent-seed-$key.json"
      log "seeding $key for the consent benchmark: $CONSENT_SPS service principals, $grants grants, $CONSENT_USERS users"
      run_child timeout 3600 "$PYTHON" "$HERE/consent_seed.py" --data-dir "${CONSENT_DATA[$key]}" \
        ${CONSENT_DB[$key]:+--db "${CONSENT_DB[$key]}"} --service-principals "$CONSENT_SPS" --grants "$grants" \
        --users "$CONSENT_USERS" --policies "$CONSENT_POLICIES" --sessions "$CONSENT_SESSIONS" \
        >"${CONSENT_SEED[$key]}" 2>>"$RUN_DIR/consent-seed-$key.txt" \
        || die "bench/consent_seed.py failed for $key (see $RUN_DIR/consent-seed-$key.txt)"
      log "$(tail -n 1 "$RUN_DIR/consent-seed-$key.txt" | sed 's/^consent_seed: //' | cut -c1-300)"
      # Where the time goes, once per database (the statements of one uncached decision and their plans).
      run_child "$PYTHON" "$HERE/consent_bench.py" explain --data-dir "${CONSENT_DATA[$key]}" \
        ${CONSENT_DB[$key]:+--db "${CONSENT_DB[$key]}"} --seed "${CONSENT_SEED[$key]}" \
        --out "$RUN_DIR/consent-explain-$key.txt" >/dev/null 2>&1 || log "explain failed for $key (not measured)"
      if [ "$CONSENT_PROFILE" = 1 ]; then
        run_child "$PYTHON" "$HERE/consent_bench.py" profile --data-dir "${CONSENT_DATA[$key]}" \
          ${CONSENT_DB[$key]:+--db "${CONSENT_DB[$key]}"} --seed "${CONSENT_SEED[$key]}" \
          --out "$RUN_DIR/consent-profile-$key.txt" >/dev/null 2>&1 || log "profile failed for $key"
      fi
    done
  done
fi

requests_measure() { # backend round kind [threads]: one bench/request_bench.py measurement on a fresh database
  local backend="$1" round="$2" kind="$3" threads="${4:-}" key db="" data
  key="$backend-$kind${threads:+-t$threads}-r$round"
  data="$RUN_DIR/data-requests-$key"
  DATA_DIRS+=("$data")
  case "$backend" in
    sqlite) ;;
    postgresql)
      db="${PG_DB}_req_$(echo "$key" | tr -c 'a-z0-9\n' '_')"
      pg "CREATE DATABASE \"$db\"" || die "cannot create database $db at $PG_ADMIN_URL"
      PG_REQUEST_DBS+=("$db") ;;
    *) die "unknown backend $backend (sqlite, postgresql)" ;;
  esac
  local args=(--data-dir "$data" ${db:+--db "${PG_ADMIN_URL%/*}/$db"} --label "$key" --json-file "$REQUESTS_RESULTS")
  if [ "$kind" = submit ]; then
    args+=(--users "$REQUESTS_USERS" --threads "$threads")
  else
    args+=(--requests "$REQUESTS_PENDING" --apps "$REQUESTS_APPS")
  fi
  if run_child timeout 3600 "$PYTHON" "$HERE/request_bench.py" "$kind" "${args[@]}" \
      >>"$RUN_DIR/requests-$key.json" 2>>"$RUN_DIR/requests-$key.txt"; then
    log "requests $key: $(tail -n 1 "$RUN_DIR/requests-$key.json" | cut -c1-220)"
  else
    FAILED=1
    log "ERROR: requests $key failed or did not verify (see $RUN_DIR/requests-$key.txt and .json); going on"
  fi
  if [ -n "$db" ]; then
    pg "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" || log "could not drop database $db"
  fi
  [ "${BENCH_KEEP_DATA:-0}" = 1 ] || rm -rf "$data"
}

for round in $(seq "$RUNS"); do
  log "=== round $round of $RUNS"
  if phase argon2; then
    for w in $WORKERS_LIST; do
      run_child "$PYTHON" "$HERE/signin_load.py" argon2 --processes "$w" --duration "$DURATION" \
        --label "argon2-p$w" --json-file "$RESULTS" >>"$RUN_DIR/argon2.txt" 2>&1 || die "argon2 bound failed"
      log "argon2-p$w round $round: $(brief)"
    done
  fi
  if phase baselines; then
    log "== baselines (round $round): $BASELINES"
    # shellcheck disable=SC2086
    OUT="$RUN_DIR/baselines-$round" RUNS=1 DURATION="${DURATION}s" WARMUP="${WARMUP}s" THREADS="$THREADS" \
      CONNECTIONS="$CONNECTIONS" PYTHON="$PYTHON" BASE_PORT="$(free_port)" \
      run_child bash "$HERE/wrk/run_baselines.sh" $BASELINES >"$RUN_DIR/baselines-$round.txt" \
      || { FAILED=1; log "ERROR: baselines failed in round $round (see $RUN_DIR/baselines-$round/); going on"; }
  fi
  if phase cc || phase signin; then
    for backend in $BACKENDS; do
      for w in $WORKERS_LIST; do
        consentry_config "$backend" "$w" "${DATA[$backend]}" "${SEED[$backend]}" "${DB[$backend]}" "$round"
      done
    done
  fi
  if phase graph; then
    for backend in $BACKENDS; do graph_config "$backend" "$round"; done
  fi
  if phase consent; then
    for backend in $BACKENDS; do
      for size in $CONSENT_SIZES; do consent_decide "$backend" "$size" "$round"; done
    done
    for backend in $BACKENDS; do consent_round_trip "$backend" "$round"; done
  fi
  if phase requests; then
    for backend in $BACKENDS; do
      for th in $REQUESTS_THREADS; do requests_measure "$backend" "$round" submit "$th"; done
      requests_measure "$backend" "$round" expiry
    done
  fi
done

BACKGROUND_AFTER="$(cpu_busy_percent)"
log "background CPU use after the run: ${BACKGROUND_AFTER}%"

# ------------------------------------------------------------------------------------------ report --
META="$RUN_DIR/meta.json"
BENCH_TS="$TS" BENCH_STARTED_AT="$STARTED_AT" BG_BEFORE="$BACKGROUND_BEFORE" BG_AFTER="$BACKGROUND_AFTER" \
  DURATION="$DURATION" RUNS="$RUNS" WARMUP="$WARMUP" THREADS="$THREADS" CONNECTIONS="$CONNECTIONS" \
  SIGNIN_CONCURRENCY="$SIGNIN_CONCURRENCY" WORKERS_LIST="$WORKERS_LIST" BACKENDS="$BACKENDS" \
  BASELINES="$BASELINES" PG_ADMIN_URL="$PG_ADMIN_URL" RUN_DIR="$RUN_DIR" \
  "$PYTHON" - >"$META" <<'EOF'
import json, os, platform, subprocess, sys
from datetime import datetime, timezone

from consentry.config import Settings

def out(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return None

cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), None)
mem = next((int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
try:
    import psycopg
    with psycopg.connect(os.environ["PG_ADMIN_URL"], connect_timeout=5) as c:
        pg = c.execute("SHOW server_version").fetchone()[0]
except Exception:
    pg = None
try:
    os_name = next(l.split("=", 1)[1].strip().strip('"') for l in open("/etc/os-release") if l.startswith("PRETTY_NAME"))
except Exception:
    os_name = platform.platform()
s = Settings()
e = os.environ
print(json.dumps({
    "timestamp": e["BENCH_TS"], "started_at": e["BENCH_STARTED_AT"],
    "finished_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "background_cpu_before": float(e["BG_BEFORE"]), "background_cpu_after": float(e["BG_AFTER"]),
    "machine": {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem / 1024 / 1024, 1), "os": os_name,
                "kernel": platform.release(), "python": platform.python_version(), "node": out("node", "--version"),
                "postgresql": pg, "wrk": (out("wrk", "-v") or "").split(" Copyright")[0] or None,
                "git_commit": out("git", "rev-parse", "--short", "HEAD"),
                "git_dirty": bool(out("git", "status", "--porcelain", "--", "src"))},
    "params": {"duration_s": int(e["DURATION"]), "runs": int(e["RUNS"]), "warmup_s": int(e["WARMUP"]),
               "wrk_threads": int(e["THREADS"]), "wrk_connections": int(e["CONNECTIONS"]),
               "signin_concurrency": int(e["SIGNIN_CONCURRENCY"]), "workers": e["WORKERS_LIST"].split(),
               "backends": e["BACKENDS"].split(), "baselines": e["BASELINES"].split(),
               "argon2": {"time_cost": s.argon2_time_cost, "memory_kib": s.argon2_memory_kib,
                          "parallelism": s.argon2_parallelism},
               "consentry_log_level": s.log_level, "transport": "plain HTTP on loopback (consentry serve --http)"},
    "raw_dir": e["RUN_DIR"],
}))
EOF

results=("$RESULTS")
rss=("$RSS")
for f in "$RUN_DIR"/baselines-*/results.jsonl; do [ -f "$f" ] && results+=("$f"); done
for f in "$RUN_DIR"/baselines-*/rss.tsv; do [ -f "$f" ] && rss+=("$f"); done
cpu=("$CPU")
for f in "$RUN_DIR"/baselines-*/cpu.tsv; do [ -f "$f" ] && cpu+=("$f"); done
echo
rc=0
if phase argon2 || phase baselines || phase cc || phase signin; then
  "$PYTHON" "$HERE/wrk/report.py" --results "${results[@]}" --rss "${rss[@]}" --cpu "${cpu[@]}" --meta "$META" --out "$OUT_JSON" || rc=$?
  echo
fi
if phase graph; then
  "$PYTHON" "$HERE/graph_load.py" report --results "$GRAPH_RESULTS" --rss "$RSS" --cpu "$CPU" --meta "$META" \
    --seeds "$RUN_DIR"/graph-seed-*.json --targets "$RUN_DIR"/graph-targets-*.json --out "$OUT_JSON" \
    --duration "$DURATION" --runs "$RUNS" --warmup "$WARMUP" --threads "$THREADS" --connections "$GRAPH_CONNECTIONS" \
    || rc=$?
  echo
fi
if phase consent; then
  "$PYTHON" "$HERE/consent_bench.py" report --results "$CONSENT_RESULTS" --seeds "$RUN_DIR"/consent-seed-*.json \
    --meta "$META" --out "$OUT_JSON" --duration "$CONSENT_DURATION" --warmup "$WARMUP" --runs "$RUNS" || rc=$?
  echo
fi
if phase requests; then
  "$PYTHON" "$HERE/request_bench.py" report --results "$REQUESTS_RESULTS" || rc=$?
  echo
fi
log "results: $OUT_JSON (raw: $RUN_DIR)"
[ "$FAILED" = 0 ] || { log "some steps failed (see the ERROR lines above)"; rc=1; }
exit "$rc"
