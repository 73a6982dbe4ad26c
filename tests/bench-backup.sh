#!/usr/bin/env bash
# Backup at scale: a data directory of 10 GiB in 20,000 blobs (kept in /dev/shm, so the figures
# are the backup's own rather than this machine's disk writeback), backed up with `berthd backup`
# to a directory on the disk (another filesystem: every blob is copied) while a client pushes;
# that client's push throughput during the backup against its own without one, in the same run;
# an incremental backup after 1% new data; a backup to the same filesystem (hard links); the
# offline verification; then berthd stopped, its data removed, and the restore from the disk.
# Extra arguments go to berth-bench (e.g. --backup-blobs 2000 for a quick run).
# Needs a release build (made here), about 11 GiB free on /var/tmp and 12 GiB in /dev/shm.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace
shm=$(mktemp -d /dev/shm/berth-bench.XXXXXX)
disk=$(mktemp -d /var/tmp/berth-backup.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$shm" "$disk"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 300); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done; echo "not up: $1"; exit 1; }
now() { python3 -c 'import time; print(time.time())'; }

port=$(free_port)
password="Bench-$(date +%s)"
cat >"$shm/berth.toml" <<TOML
data_dir = "$shm/data"
[http]
listen = "127.0.0.1:$port"
[storage]
free_space_reserve_mib = 256
TOML
BERTH_ADMIN_PASSWORD="$password" ./target/release/berthd --config "$shm/berth.toml" >"$shm/berth.log" 2>&1 &
pid=$!
pids+=($pid)
wait_up "http://127.0.0.1:$port/api/v2.0/ping"
for project in bench; do
  curl -sf -u "admin:$password" -H 'content-type: application/json' \
    -d "{\"project_name\":\"$project\",\"metadata\":{\"public\":\"false\"}}" \
    "http://127.0.0.1:$port/api/v2.0/projects" >/dev/null
done

bench=./target/release/berth-bench
target="berth=http://127.0.0.1:$port,admin,$password"
$bench --cases backup-seed --repo bench/data --target "$target" "$@"
$bench --cases backup --repo bench/data --target "$target" \
  --berthd ./target/release/berthd --berth-config "$shm/berth.toml" \
  --backup-dest "$disk/backup" "$@"

t0=$(now)
./target/release/berthd --config "$shm/berth.toml" backup "$shm/linked" 2>/dev/null
echo "backup to the same filesystem (hard links), no pusher: $(python3 -c "import time; print(f'{time.time() - $t0:.1f}')") s"
rm -rf "$shm/linked"

t0=$(now)
./target/release/berthd verify "$disk/backup" 2>/dev/null
echo "offline verification of every snapshot (each blob hashed once): $(python3 -c "import time; print(f'{time.time() - $t0:.1f}')") s"

kill "$pid"; wait "$pid" 2>/dev/null || true
pids=()
# As on a new machine: no data directory and no configuration file.
rm -rf "$shm/data" "$shm/berth.toml"
t0=$(now)
./target/release/berthd restore "$disk/backup" --data "$shm/restored" 2>"$shm/restore.log" || { cat "$shm/restore.log"; exit 1; }
echo "restore from the disk into an empty data directory (every blob copied and hashed): $(python3 -c "import time; print(f'{time.time() - $t0:.1f}')") s"
du -sh "$shm/restored" "$disk/backup" | sed 's/^/  /'
