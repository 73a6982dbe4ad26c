#!/usr/bin/env bash
# Garbage collection at scale: the same 100,000 small blobs (1,000 images of 99 layers and a
# config; half the images deleted, so half the blobs unreferenced) pushed to berthd and to
# Debian's docker-registry (CNCF Distribution 2.8). Prints berthd's online GC wall time, the
# push throughput of a concurrent client during that GC divided by its throughput without GC,
# berthd's peak RSS over the whole run, and the wall time of Distribution's offline
# `docker-registry garbage-collect --delete-untagged` on its copy, with the ratio of the two.
# Extra arguments go to berth-bench (e.g. --gc-images 100 for a quick run).
# Needs: docker-registry (apt-get install -y docker-registry) and a release build.
source "$(dirname "$0")/bench-lib.sh"
start_distribution warn

berth_port=$(free_port)
password="Bench-$(date +%s)"
cat >"$work/berth.toml" <<TOML
data_dir = "$work/berth"
[http]
listen = "127.0.0.1:$berth_port"
[gc]
time_window_minutes = 0
TOML
BERTH_ADMIN_PASSWORD="$password" ./target/release/berthd --config "$work/berth.toml" \
  --listen "127.0.0.1:$berth_port" >"$work/berth.log" 2>&1 &
berth_pid=$!
pids+=($berth_pid)

wait_up "http://127.0.0.1:$dist_port/v2/"
wait_up "http://127.0.0.1:$berth_port/api/v2.0/ping"
curl -sf -u "admin:$password" -H 'content-type: application/json' \
  -d '{"project_name":"bench","metadata":{"public":"false"}}' \
  "http://127.0.0.1:$berth_port/api/v2.0/projects" >/dev/null

bench=./target/release/berth-bench
$bench --repo bench/gc --cases gc-seed \
  --target "distribution=http://127.0.0.1:$dist_port" \
  --target "berth=http://127.0.0.1:$berth_port,admin,$password" "$@"
# The time window counts whole seconds: let the seeded content leave it.
sleep 2
out=$($bench --repo bench/gc --cases gc --target "berth=http://127.0.0.1:$berth_port,admin,$password" "$@")
echo "$out" | grep -v '^[A-Z_]*='
berth_gc=$(echo "$out" | sed -n 's/^GC_SECONDS=//p')
rss_kib=$(awk '/VmHWM/ {print $2}' "/proc/$berth_pid/status")

# Distribution's garbage collection is offline: the registry is stopped first.
kill "$dist_pid"; wait "$dist_pid" 2>/dev/null || true
start=$(date +%s.%N)
docker-registry garbage-collect --delete-untagged "$work/dist/config.yml" >"$work/dist-gc.log" 2>&1
end=$(date +%s.%N)
dist_gc=$(python3 -c "print($end - $start)")
dist_deleted=$(grep -c 'blob eligible for deletion' "$work/dist-gc.log" || true)
echo "distribution offline GC (--delete-untagged): $(printf '%.2f' "$dist_gc") s, $dist_deleted blobs eligible"
echo "berthd peak RSS over the whole run: $((rss_kib / 1024)) MiB"
echo "GC time, berth online / distribution offline: $(python3 -c "print(f'{$berth_gc / $dist_gc:.3f}')")"
