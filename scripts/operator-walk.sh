#!/usr/bin/env bash
# Walks docs/performance.md as an operator would, on the built binary:
# --check-config, start with the aggressive profile, the journal's SQLite
# lines, journal_mode in the file, /api/metrics/ and /api/metrics/db, pprof on
# loopback, metrics reset, then the rollback procedure (by .env and by hand
# with sqlite3) and the gateway still serving. Exits non-zero naming the first
# step that fails.
#
# Usage: scripts/operator-walk.sh            (builds the gateway with go build)
#        ONE_API_BIN=/path/to/one-api scripts/operator-walk.sh
#        KEEP=1 ...                          (keep the work directory)
# Needs: curl, sqlite3 (Debian package sqlite3), and go unless ONE_API_BIN is set.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/one-api-walk.XXXXXX")
pid=""
step="set-up"

say() { printf 'operator-walk: %s\n' "$*"; }
fail() {
  say "FAIL at \"$step\": $*"
  if [ -f "$work/gateway.log" ]; then
    say "last lines of the gateway log:"
    tail -n 30 "$work/gateway.log" | sed 's/^/    /'
  fi
  exit 1
}
ok() { say "ok: $step"; }

cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  if [ "${KEEP:-}" = 1 ]; then
    say "work directory kept: $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

for tool in curl sqlite3; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed (apt-get install $tool)"
done

# free_port prints a TCP port nothing listens on: a connect must be refused.
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  fail "no free port found"
}

port=$(free_port)
pprof_port=$(free_port)
[ "$pprof_port" != "$port" ] || pprof_port=$(free_port)
token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n') # 32 characters, as access tokens are
api="http://127.0.0.1:$port"
pprof="http://127.0.0.1:$pprof_port"

step="build"
if [ -n "${ONE_API_BIN:-}" ]; then
  cp "$ONE_API_BIN" "$work/one-api"
else
  command -v go >/dev/null 2>&1 || fail "go is not installed; set ONE_API_BIN to a built gateway"
  (cd "$repo" && go build -o "$work/one-api" .) || fail "go build failed"
fi
ok
cd "$work"

# The guide's layout: site lines in site.env, .env = profile + site lines.
cat > site.env <<EOF
SQLITE_PATH=one-api.db
SESSION_SECRET=walk-session-secret-$RANDOM$RANDOM
INITIAL_ROOT_ACCESS_TOKEN=$token
PORT=$port
PPROF_PORT=$pprof_port
EOF

# start runs the gateway in the background, as systemd would, and waits until
# /api/status answers 200.
start() {
  ./one-api >>gateway.log 2>&1 &
  pid=$!
  for _ in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" || true; pid=""; fail "the gateway exited during start-up"; }
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "$api/api/status")" = 200 ]; then
      return
    fi
    sleep 0.2
  done
  fail "/api/status did not answer 200 within 30 s"
}

# stop sends SIGTERM, as systemctl stop does, and wants a clean exit.
stop() {
  kill -TERM "$pid"
  local status=0
  wait "$pid" || status=$?
  pid=""
  [ "$status" = 0 ] || fail "the gateway exited with status $status on SIGTERM"
}

# admin GETs or POSTs an admin route with the access token.
admin() {
  local method=$1 path=$2
  curl -sS -X "$method" -H "Authorization: Bearer $token" "$api$path"
}

journal_mode() { sqlite3 one-api.db "PRAGMA journal_mode;"; }

# ---------------------------------------------------------------- aggressive
step="--check-config with the aggressive profile"
cat "$repo/docs/profiles/aggressive.env" site.env > .env
out=$(./one-api --check-config) || fail "--check-config exited $?"
grep -qx "Pprof.Enabled = true" <<<"$out" || fail "effective configuration lacks Pprof.Enabled = true"
grep -qx "Pprof.Port = $pprof_port" <<<"$out" || fail "site.env's PPROF_PORT did not win over the profile's"
grep -q "walk-session-secret" <<<"$out" && fail "SESSION_SECRET printed unmasked"
ok

step="start with the aggressive profile"
start
ok

step="journal: SQLite PRAGMA lines"
grep -q '^\[SYS\] applying SQLite optimizations for single-user workload$' gateway.log || fail "no '[SYS] applying SQLite optimizations' line"
for p in "journal_mode = WAL" "synchronous = NORMAL" "cache_size = -128000" "mmap_size = 536870912" \
  "temp_store = MEMORY" "busy_timeout = 5000" "wal_autocheckpoint = 1000" "foreign_keys = OFF"; do
  grep -q "^\[SYS\] SQLite PRAGMA: $p\$" gateway.log || fail "no '[SYS] SQLite PRAGMA: $p' line"
done
ok

step="sqlite3: journal_mode persists as wal"
[ "$(journal_mode)" = wal ] || fail "sqlite3 one-api.db \"PRAGMA journal_mode;\" printed '$(journal_mode)', want wal"
ok

step="GET /api/metrics/ answers the spec's keys"
body=$(admin GET /api/metrics/)
grep -q '"success":true' <<<"$body" || fail "not a success envelope: $body"
for k in total_requests failed_requests success_rate average_duration p50_latency p95_latency p99_latency \
  db_query_count db_avg_duration streaming_requests avg_ttft; do
  grep -q "\"$k\":" <<<"$body" || fail "key $k missing: $body"
done
grep -qE '"success_rate":[0-9]+\.[0-9]{2}[,}]' <<<"$body" || fail "success_rate is not a two-decimal percentage: $body"
grep -qE '"p99_latency":"[0-9][^"]*s"' <<<"$body" || fail "p99_latency is not a duration string: $body"
ok

step="GET /api/metrics/db shows the gateway's own PRAGMAs"
body=$(admin GET /api/metrics/db)
grep -q '"journal_mode":"WAL"' <<<"$body" || fail "journal_mode WAL not reported: $body"
grep -q '"cache_size":"-128000"' <<<"$body" || fail "cache_size -128000 not reported: $body"
grep -q '"consistent":true' <<<"$body" || fail "connections not consistent: $body"
ok

step="X-Response-Time-Ms header and access log"
curl -si "$api/api/status" | grep -qiE '^x-response-time-ms: [0-9]+\.[0-9]{2}' || fail "no X-Response-Time-Ms header on /api/status"
last=$(grep X-Response-Time gateway.log | tail -n 1 | awk '{print $NF}')
[[ "$last" =~ ^[0-9]+(\.[0-9]+)?$ ]] || fail "access log line does not end with the response time: '$last'"
ok

step="pprof answers on 127.0.0.1 only"
curl -sf "$pprof/debug/pprof/" | grep -q goroutine || fail "$pprof/debug/pprof/ does not answer"
curl -sf "$pprof/debug/pprof/goroutine?debug=2" | grep -q '^goroutine ' || fail "goroutine?debug=2 has no stacks"
curl -sf -o /dev/null "$pprof/debug/pprof/heap" || fail "heap profile does not answer"
curl -sf -o /dev/null "$pprof/debug/pprof/block?debug=2" || fail "block profile does not answer"
curl -sf -o /dev/null "$pprof/debug/pprof/mutex?debug=2" || fail "mutex profile does not answer"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$api/debug/pprof/")" = 404 ] || fail "pprof is served on the main port"
host_ip=$(hostname -I 2>/dev/null | awk '{print $1}')
if [ -n "$host_ip" ] && [ "$host_ip" != 127.0.0.1 ]; then
  curl -s -m 2 -o /dev/null "http://$host_ip:$pprof_port/debug/pprof/" && fail "pprof answers on $host_ip, not only on loopback"
fi
if command -v go >/dev/null 2>&1; then
  PPROF_TMPDIR="$work" go tool pprof -top -nodecount=3 "$pprof/debug/pprof/heap" >pprof.out 2>&1 ||
    fail "go tool pprof $pprof/debug/pprof/heap failed: $(tail -n 3 pprof.out)"
fi
ok

step="POST /api/metrics/reset restarts the window"
before=$(admin GET /api/metrics/ | grep -o '"window_start":"[^"]*"' || true)
sleep 1.1
body=$(admin POST /api/metrics/reset)
grep -q '"success":true' <<<"$body" || fail "reset did not succeed: $body"
after=$(admin GET /api/metrics/ | grep -o '"window_start":"[^"]*"' || true)
[ -n "$after" ] && [ "$after" != "$before" ] || fail "window_start did not move: before $before, after $after"
ok

step="clean stop checkpoints the WAL"
stop
[ ! -s one-api.db-wal ] || fail "one-api.db-wal is $(stat -c %s one-api.db-wal) bytes after a clean stop"
ok

# ------------------------------------------------------------------ rollback
step="rollback .env from the guide"
awk '/^ *```dotenv/{on=1; next} on && /^ *```/{exit} on {sub(/^ +/, ""); print}' "$repo/docs/performance.md" > rollback.env
grep -q '^SQLITE_JOURNAL_MODE=DELETE$' rollback.env || fail "no rollback block with SQLITE_JOURNAL_MODE=DELETE in docs/performance.md"
cp .env .env.before-rollback
cat rollback.env site.env > .env
./one-api --check-config >/dev/null || fail "--check-config rejects the rollback .env"
ok

step="restart with the rollback .env"
: >gateway.log
start
grep -q 'SQLite optimizations disabled' gateway.log || fail "no 'SQLite optimizations disabled' line"
grep -q '^\[SYS\] SQLite PRAGMA: journal_mode = DELETE$' gateway.log || fail "no '[SYS] SQLite PRAGMA: journal_mode = DELETE' line"
grep -q '^\[SYS\] SQLite PRAGMA: synchronous = FULL$' gateway.log || fail "no '[SYS] SQLite PRAGMA: synchronous = FULL' line"
[ "$(journal_mode)" = delete ] || fail "journal_mode is '$(journal_mode)' after the rollback, want delete"
curl -sf "$api/api/status" | grep -q '"success":true' || fail "/api/status does not answer success after the rollback"
stop
ok

step="undo the rollback: back to WAL"
cp .env.before-rollback .env
: >gateway.log
start
[ "$(journal_mode)" = wal ] || fail "journal_mode is '$(journal_mode)' with the aggressive profile again, want wal"
stop
ok

step="rollback by hand with sqlite3 on the stopped gateway"
sqlite3 one-api.db "PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL;" >/dev/null || fail "sqlite3 could not switch the journal mode"
[ "$(journal_mode)" = delete ] || fail "journal_mode is '$(journal_mode)' after sqlite3, want delete"
cat rollback.env site.env > .env
: >gateway.log
start
[ "$(journal_mode)" = delete ] || fail "journal_mode is '$(journal_mode)' after restart, want delete"
curl -sf "$api/api/status" | grep -q '"success":true' || fail "/api/status does not answer success on the hand-rolled-back database"
stop
ok

say "all steps passed"
