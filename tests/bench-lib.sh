# Shared by the benchmark scripts (sourced, not run): builds the release binaries, makes a work
# directory removed at exit with every process started into `pids`, and starts Debian's
# docker-registry (CNCF Distribution) with deletes enabled: `start_distribution LOG_LEVEL` sets
# `dist_port` and `dist_pid`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace

work=$(mktemp -d /tmp/berth-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() {  # poll a URL until it answers, at most about 30 s
  for _ in $(seq 300); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "$1 did not come up"; exit 1
}

start_distribution() {
  command -v docker-registry >/dev/null || { echo "install docker-registry first (apt-get install -y docker-registry)"; exit 1; }
  dist_port=$(free_port)
  mkdir -p "$work/dist"
  cat >"$work/dist/config.yml" <<YML
version: 0.1
log:
  level: $1
storage:
  filesystem:
    rootdirectory: $work/dist/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$dist_port
YML
  docker-registry serve "$work/dist/config.yml" >"$work/dist.log" 2>&1 &
  dist_pid=$!
  pids+=($dist_pid)
}
