#!/usr/bin/env bash
# Tag retention at scale: 100,000 tags in 1,000 repositories (each tag its own artifact), and
# the policy "retain the 10 most recently pushed". Prints the dry run's wall time (evaluation
# only), the run's (evaluation and deletion of 90,000 artifacts), the push throughput of a
# concurrent client during the run divided by its throughput without one, and berthd's memory:
# resident after seeding, and the peak before and after the retention runs.
# Extra arguments go to berth-bench (e.g. --retention-repos 50 for a quick run).
# Needs a release build (made here).
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
pid=$!
pids+=($pid)
for _ in $(seq 300); do curl -sf -o /dev/null "http://127.0.0.1:$port/api/v2.0/ping" && break; sleep 0.1; done
curl -sf -u "admin:$password" -H 'content-type: application/json' \
  -d '{"project_name":"bench","metadata":{"public":"false"}}' \
  "http://127.0.0.1:$port/api/v2.0/projects" >/dev/null

bench=./target/release/berth-bench
target="berth=http://127.0.0.1:$port,admin,$password"
$bench --cases retention-seed --target "$target" "$@"
mib() { awk -v k="$1" '$1 == k":" {printf "%.1f", $2 / 1024}' "/proc/$pid/status"; }
echo "berthd after seeding: resident $(mib VmRSS) MiB, peak so far $(mib VmHWM) MiB"
$bench --cases retention --repo library/pusher --target "$target" "$@"
echo "berthd after retention: resident $(mib VmRSS) MiB, peak $(mib VmHWM) MiB"
