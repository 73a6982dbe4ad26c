#!/usr/bin/env bash
# What metrics cost a pull: the manifest-GET case (20,000 GETs at concurrency 32) against two
# fresh berthds of this build, one with metrics off (the baseline) and one with them on and a
# scraper reading /metrics every second, as Prometheus would. Two rounds, in both orders (a
# run leaves writeback behind that slows whatever runs next). Needs a release build (made here).
source "$(dirname "$0")/bench-lib.sh"

password="Bench-$(date +%s)"
start() {  # NAME EXTRA_TOML -> sets port_NAME
  local name=$1 port
  port=$(free_port)
  mkdir -p "$work/$name"
  printf 'data_dir = "%s"\n[http]\nlisten = "127.0.0.1:%s"\n%s\n' "$work/$name/data" "$port" "$2" >"$work/$name/berth.toml"
  BERTH_ADMIN_PASSWORD="$password" ./target/release/berthd --config "$work/$name/berth.toml" >"$work/$name.log" 2>&1 &
  pids+=($!)
  wait_up "http://127.0.0.1:$port/api/v2.0/ping"
  eval "port_$name=$port"
}
start off ""
scrape_port=$(free_port)
start on "[metrics]
enabled = true
listen = \"127.0.0.1:$scrape_port\""
( while true; do curl -s -o /dev/null "http://127.0.0.1:$scrape_port/metrics"; sleep 1; done ) &
pids+=($!)
off="metrics-off=http://127.0.0.1:$port_off,admin,$password"
on="metrics-on=http://127.0.0.1:$port_on,admin,$password"
for round in 1 2; do
  echo
  if [ "$round" = 1 ]; then first=$off second=$on; else first=$on second=$off; fi
  echo "Round $round of 2, ${first%%=*} first (ratio against the first row):"
  ./target/release/berth-bench --cases manifests --repo "library/m$round" --target "$first" --target "$second" "$@"
done
echo
echo "A scrape of the metrics listener:"
curl -s "http://127.0.0.1:$scrape_port/metrics" | grep -E '^harbor_core_http_request_total\{code="200",method="GET",operation="registry:manifest:get"\}'
