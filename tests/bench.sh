#!/usr/bin/env bash
# Runs berth-bench against berthd and against CNCF Distribution 2.8 (Debian's docker-registry,
# the registry inside Harbor) in the same run, and prints each figure with its ratio against
# Distribution, plus berthd's peak RSS. Extra arguments go to berth-bench (e.g. --cases many).
# With BERTH_BENCH_BASELINE=/path/to/an/earlier/berthd, it also runs the many-blobs and manifest
# cases four times against that build (the baseline) and this one, side by side and in
# alternating order, so a change can be judged against the build before it under the same
# conditions.
# Needs: docker-registry (apt-get install -y docker-registry) and a release build.
source "$(dirname "$0")/bench-lib.sh"
start_distribution info

berth_port=$(free_port)
password="Bench-$(date +%s)"
BERTH_ADMIN_PASSWORD="$password" ./target/release/berthd --dev --data "$work/berth" \
  --listen "127.0.0.1:$berth_port" >"$work/berth.log" 2>&1 &
berth_pid=$!
pids+=($berth_pid)

wait_up "http://127.0.0.1:$dist_port/v2/"
wait_up "http://127.0.0.1:$berth_port/api/v2.0/ping"

./target/release/berth-bench \
  --target "distribution=http://127.0.0.1:$dist_port" \
  --target "berth=http://127.0.0.1:$berth_port,admin,$password" \
  --rss-pid "berth=$berth_pid" "$@"

# What the audit log costs a pull: the same berthd build with pull auditing off (Harbor's
# pull_audit_log_disable) as the baseline, against the default with every pull recorded.
quiet_port=$(free_port)
mkdir -p "$work/quiet"
cat >"$work/quiet/berth.toml" <<TOML
data_dir = "$work/quiet/data"
[http]
listen = "127.0.0.1:$quiet_port"
[system]
pull_audit_log_disable = true
TOML
BERTH_ADMIN_PASSWORD="$password" ./target/release/berthd --config "$work/quiet/berth.toml" >"$work/quiet.log" 2>&1 &
pids+=($!)
wait_up "http://127.0.0.1:$quiet_port/api/v2.0/ping"
echo
echo "Audit log overhead on pulls (baseline: pull auditing off):"
./target/release/berth-bench --cases manifests \
  --target "berth-no-pull-audit=http://127.0.0.1:$quiet_port,admin,$password" \
  --target "berth-audited=http://127.0.0.1:$berth_port,admin,$password"

if [ -n "${BERTH_BENCH_BASELINE:-}" ]; then
  base_port=$(free_port)
  BERTH_ADMIN_PASSWORD="$password" "$BERTH_BENCH_BASELINE" --dev --data "$work/baseline" \
    --listen "127.0.0.1:$base_port" >"$work/baseline.log" 2>&1 &
  pids+=($!)
  # A fresh server of this build too, so neither side starts with the other runs' data.
  this_port=$(free_port)
  BERTH_ADMIN_PASSWORD="$password" ./target/release/berthd --dev --data "$work/this" \
    --listen "127.0.0.1:$this_port" >"$work/this.log" 2>&1 &
  pids+=($!)
  wait_up "http://127.0.0.1:$base_port/api/v2.0/ping"
  wait_up "http://127.0.0.1:$this_port/api/v2.0/ping"
  baseline_target="baseline=http://127.0.0.1:$base_port,admin,$password"
  this_target="this=http://127.0.0.1:$this_port,admin,$password"
  # Four rounds, alternating which build goes first: a push leaves writeback behind that slows
  # whatever runs next, so a fixed order would favour one side. Each table's ratio is against
  # its first row.
  for round in 1 2 3 4; do
    echo
    if [ $((round % 2)) -eq 1 ]; then first=$baseline_target second=$this_target; else first=$this_target second=$baseline_target; fi
    echo "This build and $BERTH_BENCH_BASELINE (the baseline), round $round of 4, ${first%%=*} first:"
    ./target/release/berth-bench --cases many,manifests --repo "library/ab$round" \
      --target "$first" --target "$second"
  done
fi
