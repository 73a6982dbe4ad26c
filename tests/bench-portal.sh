#!/usr/bin/env bash
# The portal at scale: a berthd filled with 1,000 projects, 10,000 repositories and 100,000
# artifacts; then the projects list, a project's repositories and a repository's artifacts,
# 200 requests each, timed (p50, p95) against the REST call that lists the same thing in the
# same run, with the bytes each page sends. Targets: p95 under 50 ms, under 100 KB per page.
# Extra arguments go to berth-bench (e.g. --portal-projects 100 for a quick run).
source "$(dirname "$0")/bench-lib.sh"

port=$(free_port)
password="Bench-$(date +%s)"
cat >"$work/berth.toml" <<TOML
data_dir = "$work/berth"
[http]
listen = "127.0.0.1:$port"
TOML
BERTH_ADMIN_PASSWORD="$password" ./target/release/berthd --config "$work/berth.toml" \
  --listen "127.0.0.1:$port" >"$work/berth.log" 2>&1 &
berth_pid=$!
pids+=($berth_pid)
wait_up "http://127.0.0.1:$port/api/v2.0/ping"

bench=./target/release/berth-bench
target="berth=http://127.0.0.1:$port,admin,$password"
$bench --cases portal-seed --target "$target" "$@"
$bench --cases portal --target "$target" "$@"
echo "berthd peak RSS over the whole run: $(($(awk '/VmHWM/ {print $2}' "/proc/$berth_pid/status") / 1024)) MiB"
