#!/usr/bin/env bash
# Memory under a login storm (issue 10, finding 3): berthd's resident memory at rest, then its
# peak (VmHWM) after 300 concurrent wrong Basic logins from one address and 500 more from a
# second one, with how many of them were refused as wrong (401) and as throttled (429). The
# baseline is the same berthd at rest, measured in the same run; `--baseline BERTHD` runs the
# same storm against another build too (say, an earlier release), for comparison.
#
#   tests/bench-logins.sh [--baseline PATH_TO_OTHER_BERTHD]
set -euo pipefail
cd "$(dirname "$0")/.."
baseline=""
if [ "${1:-}" = "--baseline" ]; then baseline="$2"; fi
cargo build --release --bin berthd

storm() {  # storm LABEL BINARY
  local label=$1 bin=$2 work pid port
  work=$(mktemp -d /tmp/berth-logins.XXXXXX)
  BERTH_ADMIN_PASSWORD=Harbor12345 "$bin" --dev --data "$work/data" --listen 127.0.0.1:0 \
    >"$work/log" 2>&1 &
  pid=$!
  port=""
  for _ in $(seq 300); do  # poll the log for the bound port, at most about 30 s
    port=$(grep -oE '127\.0\.0\.1:[0-9]+' "$work/log" | head -1 | cut -d: -f2 || true)
    [ -n "$port" ] && curl -s -o /dev/null "http://127.0.0.1:$port/api/v2.0/ping" && break
    port=""
    sleep 0.1
  done
  [ -n "$port" ] || { echo "$label: berthd did not start"; cat "$work/log"; kill "$pid"; exit 1; }
  local url="http://127.0.0.1:$port"
  curl -s -o /dev/null -u admin:Harbor12345 -H 'content-type: application/json' \
    -d '{"username":"victim","email":"v@example.com","realname":"v","password":"Passw0rdOK"}' \
    "$url/api/v2.0/users"
  local rest
  rest=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  local codes="$work/codes"
  seq 300 | xargs -P 300 -I{} curl -s -o /dev/null -w '%{http_code}\n' -u victim:wrong \
    "$url/api/v2.0/users/current" >>"$codes"
  seq 500 | xargs -P 500 -I{} curl -s -o /dev/null -w '%{http_code}\n' --interface 127.0.0.2 \
    -u victim:wrong "$url/api/v2.0/users/current" >>"$codes"
  local peak now
  peak=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  now=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  awk -v label="$label" -v rest="$rest" -v peak="$peak" -v now="$now" \
    -v ok="$(grep -c '^401$' "$codes" || true)" -v throttled="$(grep -c '^429$' "$codes" || true)" \
    -v other="$(grep -vcE '^(401|429)$' "$codes" || true)" 'BEGIN {
      printf "%-10s at rest %7.1f MiB   peak %7.1f MiB (%5.1fx rest)   after %7.1f MiB   401: %3d   429: %3d   other: %d\n",
        label, rest / 1024, peak / 1024, peak / rest, now / 1024, ok, throttled, other }'
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}

echo "800 concurrent wrong Basic logins (300 from 127.0.0.1, then 500 from 127.0.0.2):"
storm berthd target/release/berthd
if [ -n "$baseline" ]; then storm baseline "$baseline"; fi
