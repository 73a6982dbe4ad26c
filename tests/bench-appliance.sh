#!/usr/bin/env bash
# The appliance's figures, from the images appliance/build.sh made (target/appliance/):
#  - the qcow2's and the OVA's sizes, against the 300 MB target for the OVA;
#  - boot to berthd ready (under KVM where it can run firmware), the first boot (setup from a seed disk: certificates,
#    database) and a second boot, each against the same boot's own baseline, the serial
#    console's login prompt (the operating system's own boot), and against the 20 s target;
#  - berthd's RSS and the whole VM's used memory, idle after a push (read over SSH, with a key
#    the seed gave);
#  - the smallest memory, of 512 MiB down to 128, in which a first boot gets ready and takes a
#    push.
# Needs: the images, qemu-system-x86 (KVM for the boot figures that count), skopeo, dosfstools, mtools, ssh, curl.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
qcow2="$PWD/target/appliance/berth-$version.qcow2"
ova="$PWD/target/appliance/berth-$version.ova"
[ -f "$qcow2" ] && [ -f "$ova" ] || { echo "build the images first: appliance/build.sh"; exit 1; }
# KVM when it can run firmware; a PVM host (nested, no hardware support) has /dev/kvm but hangs
# in SeaBIOS, so it emulates, and the boot figures say so.
if [ -e /dev/kvm ] && [ ! -e /sys/module/kvm_pvm ]; then
  accel=(-accel kvm -cpu host); accel_name=KVM
else
  accel=(-accel tcg -cpu max); accel_name="software emulation (TCG; this host's KVM cannot run firmware)"
fi
password="Bench-$(date +%s)X"

work=$(mktemp -d /tmp/berth-appliance-bench.XXXXXX)
cleanup() {
  for pidfile in "$work"/*/qemu.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
ssh-keygen -q -t ed25519 -N '' -f "$work/key"

# A small image to push: a one-layer OCI layout.
layout="$work/layout"
mkdir -p "$layout/blobs/sha256"
head -c 200000 /dev/urandom > "$work/layer"
put() { local d; d=$(sha256sum "$1" | cut -d' ' -f1); cp "$1" "$layout/blobs/sha256/$d"; echo "$d"; }
layer=$(put "$work/layer")
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$layer" > "$work/config"
config=$(put "$work/config")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
  "$config" "$(stat -c %s "$work/config")" "$layer" "$(stat -c %s "$work/layer")" > "$work/manifest"
manifest=$(put "$work/manifest")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}' \
  "$manifest" "$(stat -c %s "$work/manifest")" > "$layout/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' > "$layout/oci-layout"

# boot NAME MEMORY_MIB: a new VM from the qcow2 with a seed disk; sets port, ssh_port, dir, t0.
boot() {
  dir="$work/$1"
  mkdir -p "$dir"
  port=$(free_port)
  ssh_port=$(free_port)
  qemu-img create -q -f qcow2 -F qcow2 -b "$qcow2" "$dir/system.qcow2"
  cat > "$dir/berth-answers.toml" <<TOML
hostname = "localhost"
admin_password = "$password"
[network]
http_port = 0
https_port = $port
[appliance]
ssh_authorized_keys = ["$(cat "$work/key.pub")"]
TOML
  mkfs.vfat -n BERTH -C "$dir/seed.img" 2048 >/dev/null
  mcopy -i "$dir/seed.img" "$dir/berth-answers.toml" ::berth-answers.toml
  t0=$(now)
  qemu-system-x86_64 -machine pc "${accel[@]}" -smp 2 -m "$2" -display none \
    -daemonize -pidfile "$dir/qemu.pid" -serial "file:$dir/serial.log" \
    -drive "file=$dir/system.qcow2,if=virtio,format=qcow2" \
    -drive "file=$dir/seed.img,if=virtio,format=raw,readonly=on" \
    -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$port-:$port,hostfwd=tcp:127.0.0.1:$ssh_port-:22" \
    -device virtio-net-pci,netdev=n0
}

# ready TIMEOUT_S: seconds from t0 until berthd answers, or "never".
ready() {
  local deadline=$((SECONDS + $1))
  while [ $SECONDS -lt $deadline ]; do
    # Too little memory ends in a kernel panic: no need to wait out the deadline.
    if grep -q 'Kernel panic' "$dir/serial.log" 2>/dev/null; then echo never; return 0; fi
    if [ "$(curl -sk --max-time 2 "https://127.0.0.1:$port/api/v2.0/ping" 2>/dev/null)" = Pong ]; then
      seconds "$t0" "$(now)"
      return 0
    fi
    sleep 0.1
  done
  echo never
}

# login_prompt [FROM_BYTE]: seconds from t0 until the serial console shows a login prompt
# after byte FROM_BYTE of its log (polled at the same pace; asked after ready, a prompt that
# came first counts as the moment of asking, so the ratio is a bound).
login_prompt() {
  local deadline=$((SECONDS + 900)) from=${1:-0}
  while [ $SECONDS -lt $deadline ]; do
    if tail -c +"$((from + 1))" "$dir/serial.log" 2>/dev/null | grep -q 'login:'; then
      seconds "$t0" "$(now)"
      return 0
    fi
    sleep 0.1
  done
  echo never
}

push() {
  skopeo copy --retry-times 0 --dest-tls-verify=false --dest-creds "admin:$password" \
    "oci:$layout:v1" "docker://127.0.0.1:$port/library/bench:v1" >/dev/null 2>&1
}

in_vm() {
  ssh -q -i "$work/key" -p "$ssh_port" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    root@127.0.0.1 "$@"
}

stop() { kill "$(cat "$dir/qemu.pid")" 2>/dev/null || true; rm -f "$dir/qemu.pid"; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

echo "== sizes"
qcow2_mb=$(( $(stat -c %s "$qcow2") / 1000000 ))
ova_mb=$(( $(stat -c %s "$ova") / 1000000 ))
echo "qcow2: $qcow2_mb MB; OVA: $ova_mb MB ($(ratio "$ova_mb" 300) of the 300 MB target)"

echo "== boot to ready ($accel_name, 1024 MiB, 2 vCPUs)"
boot main 1024
first=$(ready 900)
first_prompt=$(login_prompt)
echo "first boot (setup from the seed): berthd ready after $first s; login prompt after $first_prompt s" \
  "(ready/prompt $(ratio "$first" "$first_prompt"); $(ratio "$first" 20) of the 20 s target)"
push || { echo "the push failed"; exit 1; }
in_vm systemctl reboot || true
# The reboot: t0 is when the old system went away (berthd stopped answering).
while curl -sk --max-time 1 "https://127.0.0.1:$port/api/v2.0/ping" >/dev/null 2>&1; do sleep 0.05; done
t0=$(now)
from=$(stat -c %s "$dir/serial.log")
second=$(ready 900)
second_prompt=$(login_prompt "$from")
echo "second boot: berthd ready after $second s; login prompt after $second_prompt s" \
  "(ready/prompt $(ratio "$second" "$second_prompt"); $(ratio "$second" 20) of the 20 s target)"

echo "== memory when idle"
push
sleep 10   # idle: nothing asked of the VM for ten seconds
rss_kib=$(in_vm "ps -o rss= -C berthd" | tr -d ' ')
used_kib=$(in_vm "free -k" | awk '/^Mem:/ {print $3}')
total_kib=$(in_vm "free -k" | awk '/^Mem:/ {print $2}')
echo "berthd RSS: $((rss_kib / 1024)) MiB; the VM's used memory: $((used_kib / 1024)) MiB of $((total_kib / 1024)) MiB" \
  "(berthd is $(ratio "$rss_kib" "$used_kib") of it)"
stop

echo "== smallest memory that works (a first boot gets ready and takes a push)"
smallest=""
for mib in 512 384 320 256 192 160 128; do
  boot "mem$mib" "$mib"
  took=$(ready 900)
  if [ "$took" != never ] && push; then
    echo "$mib MiB: ready after $took s, push OK"
    smallest=$mib
  else
    echo "$mib MiB: failed (ready: $took)"
    stop
    break
  fi
  stop
done
echo "smallest memory tried that works: ${smallest:-none} MiB (target 512; Harbor asks for 4096: $(ratio "${smallest:-0}" 4096))"
