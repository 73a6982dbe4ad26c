#!/usr/bin/env bash
# Replication, berthd to berthd: 50 images of 3 to 5 layers (about 500 MB, two base layers
# shared by all) replicated by a manual push policy, against `skopeo sync` of the same images
# between the same two registries, in this one run; then the policy run again with nothing new;
# then one image with a 2 GiB layer. Prints the times, the ratio against skopeo, the bytes the
# second run sent, and the replicating berthd's peak RSS (and how far the 2 GiB layer raised
# it above its resident size before, after resetting the peak through /proc/PID/clear_refs).
# Extra arguments go to berth-bench (e.g. --repl-images 5 --repl-big-mib 256 for a quick run).
# Needs: skopeo, docker-registry (bench-lib checks it), a release build (made here), root (for
# clear_refs).
source "$(dirname "$0")/bench-lib.sh"
command -v skopeo >/dev/null || { echo "install skopeo first"; exit 1; }

password="Bench-$(date +%s)"
start_berthd() {  # NAME: starts berthd NAME on a free port; sets NAME_port and NAME_pid
  local name=$1 port
  port=$(free_port)
  mkdir -p "$work/$name"
  cat >"$work/$name/berth.toml" <<TOML
data_dir = "$work/$name/data"
[http]
listen = "127.0.0.1:$port"
TOML
  BERTH_ADMIN_PASSWORD="$password" ./target/release/berthd --config "$work/$name/berth.toml" \
    --listen "127.0.0.1:$port" >"$work/$name.log" 2>&1 &
  pids+=($!)
  printf -v "${name}_port" %s "$port"
  printf -v "${name}_pid" %s "$!"
  wait_up "http://127.0.0.1:$port/api/v2.0/ping"
}
start_berthd src
start_berthd dst
src="http://127.0.0.1:$src_port"
dst="http://127.0.0.1:$dst_port"
api() {  # BASE METHOD PATH [JSON]: prints the Location of a 201, or the body
  curl -sf -u "admin:$password" -X "$2" -H 'content-type: application/json' \
    ${4:+-d "$4"} -D "$work/headers" -o "$work/body" "$1/api/v2.0$3"
  sed -n 's/^[Ll]ocation: .*\/\([0-9]*\)\r$/\1/p' "$work/headers"
}
api "$src" POST /projects '{"project_name":"bench","metadata":{"public":"false"}}' >/dev/null
api "$dst" POST /projects '{"project_name":"skopeo","metadata":{"public":"false"}}' >/dev/null

bench=./target/release/berth-bench
$bench --cases repl-seed --repo bench/img --target "src=$src,admin,$password" "$@"
endpoint=$(api "$src" POST /registries \
  "{\"name\":\"dst\",\"type\":\"harbor\",\"url\":\"$dst\",\"credential\":{\"type\":\"basic\",\"access_key\":\"admin\",\"access_secret\":\"$password\"}}")
policy=$(api "$src" POST /replication/policies \
  "{\"name\":\"images\",\"dest_registry\":{\"id\":$endpoint},\"filters\":[{\"type\":\"name\",\"value\":\"bench/img-*\"}]}")

hwm() { awk '/VmHWM/ {print int($2/1024)}' "/proc/$1/status"; }
rss() { awk '/VmRSS/ {print int($2/1024)}' "/proc/$1/status"; }
figure() { echo "$2" | sed -n "s/^$1=//p"; }

# Berth first: its blobs then sit in another project at the destination, which skopeo's
# uploads cannot use (skopeo mounts only from places it remembers pushing to). skopeo writes
# to skopeo/bench/img-NN at the destination.
echo 5 >"/proc/$src_pid/clear_refs"
src_before=$(rss "$src_pid")
first=$($bench --cases repl-run --repl-policy "$policy" --target "src=$src,admin,$password")
second=$($bench --cases repl-run --repl-policy "$policy" --target "src=$src,admin,$password")
src_hwm=$(hwm "$src_pid")

{
  echo "127.0.0.1:$src_port:"
  echo "  tls-verify: false"
  echo "  credentials: {username: admin, password: \"$password\"}"
  echo "  images:"
  curl -sf -u "admin:$password" "$src/api/v2.0/projects/bench/repositories?page_size=100" \
    | python3 -c 'import json,sys; [print("    " + r["name"] + ": [v1]") for r in json.load(sys.stdin) if "/img-" in r["name"]]'
} >"$work/sync.yaml"
start=$(date +%s.%N)
skopeo sync --src yaml --dest docker --dest-tls-verify=false \
  --dest-creds "admin:$password" "$work/sync.yaml" "127.0.0.1:$dst_port/skopeo" >"$work/skopeo.log" 2>&1 \
  || { cat "$work/skopeo.log"; exit 1; }
end=$(date +%s.%N)
skopeo_seconds=$(python3 -c "print(f'{$end - $start:.3f}')")

# One 2 GiB layer: how far above its resident size the replicating berthd's peak goes.
$bench --cases repl-big --repo bench/big --target "src=$src,admin,$password" "$@"
big_policy=$(api "$src" POST /replication/policies \
  "{\"name\":\"big\",\"dest_registry\":{\"id\":$endpoint},\"filters\":[{\"type\":\"name\",\"value\":\"bench/big\"}]}")
before=$(rss "$src_pid")
echo 5 >"/proc/$src_pid/clear_refs"
big=$($bench --cases repl-run --repl-policy "$big_policy" --target "src=$src,admin,$password")
big_hwm=$(hwm "$src_pid")

echo
echo "first run:  $(figure REPL_SECONDS "$first") s, $(figure REPL_TASKS "$first") tasks, $(figure REPL_BYTES "$first") bytes, $(figure REPL_STATUS "$first")"
echo "skopeo sync of the same images: $skopeo_seconds s"
echo "first run / skopeo sync: $(python3 -c "print(f'{$(figure REPL_SECONDS "$first") / $skopeo_seconds:.3f}')")"
echo "second run (nothing new): $(figure REPL_SECONDS "$second") s, $(figure REPL_BYTES "$second") bytes sent, $(figure REPL_STATUS "$second")"
echo "replicating berthd's peak RSS over both runs: $src_hwm MiB (resident before them: $src_before MiB)"
echo "2 GiB layer: $(figure REPL_SECONDS "$big") s, $(figure REPL_STATUS "$big"); peak RSS $big_hwm MiB, resident before $before MiB: +$((big_hwm - before)) MiB"
echo "destination berthd's peak RSS: $(hwm "$dst_pid") MiB"
