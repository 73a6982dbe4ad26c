#!/usr/bin/env bash
# The one command that installs what the tests need, builds everything from scratch, starts one
# private Docker Engine, and runs every test (unit, router, and end to end against real clients).
# Run as root on Debian 12. Set BERTH_SKIP_APT=1 to skip the package install on a prepared machine.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each stage's time, so a slow one shows in CI's log.
stage_started=$SECONDS
stage() {
  echo "== stage done in $((SECONDS - stage_started)) s; next: $1"
  stage_started=$SECONDS
}

# Processes started here in the background, stopped when the script ends however it ends.
# Each runs in a process group of its own (setsid), so its children go with it.
previous_pid=""
appliance_pid=""
work=""
exec_root=""
cleanup() {
  for pid in $previous_pid $appliance_pid; do
    kill -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$work" ] && [ -f "$work/dockerd.pid" ]; then
    pid=$(cat "$work/dockerd.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  if [ -n "$work" ]; then rm -rf "$work" "$exec_root" 2>/dev/null || true; fi
}
trap cleanup EXIT
# finish PID LOG WHAT: waits for a background job; when it failed, prints its log and stops.
finish() {
  local status=0
  wait "$1" || status=$?
  if [ "$status" -ne 0 ]; then
    echo "$3 failed:"; cat "$2"; exit 1
  fi
}

# The previous release, for the upgrade tests: its tree from its commit, its binaries built in
# the background from the start (mostly while packages download). Its tree shares target/, so
# this version's build reuses its dependencies. Packaged in the "packages" stage; once per
# commit.
previous_release=d937114781f3e310a2e1415d4bd7209d243ecebe
previous_src=target/previous-release
previous_log="$PWD/target/previous-release.log"
mkdir -p target/packages
if [ "$(cat target/packages/previous-release 2>/dev/null)" != "$previous_release" ] \
   || [ ! -f target/packages/berth_0.0.9-1_amd64.deb ] || [ ! -f target/packages/berth-0.0.9-1.x86_64.rpm ]; then
  rm -f target/packages/previous-release
  if ! git cat-file -e "$previous_release^{commit}" 2>/dev/null; then
    echo "the previous release's commit $previous_release is not in this clone (a shallow one?)"
    exit 1
  fi
  rm -rf "$previous_src"
  mkdir -p "$previous_src"
  git archive "$previous_release" | tar -x -C "$previous_src"
  ln -s "$PWD/target" "$previous_src/target"
  (cd "$previous_src" && exec setsid cargo build --release --locked --bin berthd --bin berth-setup) \
    >"$previous_log" 2>&1 &
  previous_pid=$!
fi

if [ -z "${BERTH_SKIP_APT:-}" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends \
    docker.io skopeo podman docker-registry apache2-utils ca-certificates iproute2 uidmap slapd ldap-utils curl openssl \
    tmux systemd debootstrap rpm binutils reprepro createrepo-c dnf gnupg \
    chromium chromium-driver fonts-noto-cjk fonts-liberation \
    mmdebstrap e2fsprogs dosfstools mtools fdisk grub-pc-bin grub-efi-amd64-bin grub2-common udev \
    qemu-system-x86 ovmf genisoimage prometheus
  # qemu-img: the machine's own, or Debian's when installing qemu-system-x86 replaced it.
  command -v qemu-img >/dev/null || apt-get install -y --no-install-recommends qemu-utils
  # npm comes with the machine's Node.js; Debian's is the fallback.
  command -v npm >/dev/null || apt-get install -y --no-install-recommends npm
fi

stage "packaging tools"
# The packaging tools (from the crates registry, pinned by their lock files).
for tool in cargo-deb cargo-generate-rpm; do
  if ! command -v "$tool" >/dev/null; then
    cargo install --locked "$tool"
  fi
done

stage "schemathesis and oras"
# schemathesis (from PyPI, pinned) for the REST API's contract test, in a venv of its own; the
# ORAS Python SDK (pinned) for its push/pull test, in the same venv. oras is checked by its
# version, so a venv made earlier gets it, or a new pin, too.
venv=target/schemathesis-venv
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet schemathesis==4.32.5
fi
if [ "$("$venv/bin/python" -c 'import oras.version; print(oras.version.__version__)' 2>/dev/null)" != 0.2.43 ]; then
  "$venv/bin/pip" install --quiet oras==0.2.43
fi
export BERTH_TEST_SCHEMATHESIS="$PWD/$venv/bin/schemathesis"
export BERTH_TEST_ORAS_PYTHON="$PWD/$venv/bin/python"

stage "axe-core"
# axe-core (from the npm registry, pinned) for the portal's accessibility checks in Chromium.
axe=target/axe/node_modules/axe-core/axe.min.js
if [ ! -f "$axe" ] || ! grep -q '"version": "4.10.3"' target/axe/node_modules/axe-core/package.json; then
  mkdir -p target/axe
  (cd target/axe && npm install --no-save --no-audit --no-fund --silent axe-core@4.10.3)
fi
export BERTH_TEST_AXE="$PWD/$axe"

stage "fmt and clippy"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
stage "build"
# The end-to-end tests run target/debug/berthd, so build the binaries before testing.
cargo build --workspace --all-targets
# A mismatching wizard snapshot fails; nothing is written beside it.
export INSTA_UPDATE=no

stage "packages"
# The previous release's packages (named 0.0.9, from its binaries built above), then this
# version's, with the documented command. Packaged once per commit of the previous release.
if [ -n "$previous_pid" ]; then
  pid=$previous_pid
  previous_pid=""
  finish "$pid" "$previous_log" "building the previous release"
  "$previous_src/packaging/build.sh" 0.0.9 >>"$previous_log" 2>&1 \
    || { echo "packaging the previous release failed:"; cat "$previous_log"; exit 1; }
  rm -rf "$previous_src"
  echo "$previous_release" >target/packages/previous-release
fi
packaging/build.sh
export BERTH_TEST_PACKAGES="$PWD/target/packages"

# The VM image, with its documented command, in the background while the other tests run (it
# mostly waits on the archive and the disk); its own tests run once it is there. Built again
# only when the package or appliance/ changed since.
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
image="target/appliance/berth-$version.qcow2"
appliance_log="$PWD/target/appliance-build.log"
if [ ! -f "$image" ] || [ -n "$(find appliance "target/packages/berth_${version}-1_amd64.deb" -newer "$image" | head -n 1)" ]; then
  setsid appliance/build.sh >"$appliance_log" 2>&1 &
  appliance_pid=$!
fi
export BERTH_TEST_APPLIANCE="$PWD/target/appliance"
if [ ! -x target/debian-root/usr/bin/dpkg ]; then
  rm -rf target/debian-root
  # The Debian mirror this machine's own apt sources use (deb822 `URIs:` or one-line `deb`).
  mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
             | awk '/^URIs:/ {print $2}' | grep -v -- '-security' | head -n 1)
  if [ -z "$mirror" ]; then
    mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
               | awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' \
               | grep -v -- '-security' | head -n 1)
  fi
  if [ -z "$mirror" ]; then
    echo "no Debian mirror found in /etc/apt/sources.list.d/"; exit 1
  fi
  debootstrap --variant=minbase bookworm target/debian-root "$mirror"
fi
export BERTH_TEST_DEBIAN_ROOT="$PWD/target/debian-root"
# The same with systemd, booted as PID 1 in a container to run the packaged unit for real.
if [ ! -x target/debian-root-systemd/lib/systemd/systemd ]; then
  rm -rf target/debian-root-systemd
  cp -a target/debian-root target/debian-root-systemd
  chroot target/debian-root-systemd apt-get update
  chroot target/debian-root-systemd env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends systemd systemd-sysv dbus
  chroot target/debian-root-systemd apt-get clean
fi
export BERTH_TEST_SYSTEMD_ROOT="$PWD/target/debian-root-systemd"

stage "dockerd"
# One dockerd for the whole run, without networking or overlayfs (see shared/testing.md).
work=$(mktemp -d /tmp/berth-dockerd.XXXXXX)
exec_root=$(mktemp -d /tmp/bdx.XXXXXX)   # short: containerd puts a socket in it
dockerd --iptables=false --ip6tables=false --bridge=none --storage-driver=vfs \
  --data-root="$work/data" --exec-root="$exec_root" \
  -H "unix://$work/docker.sock" --pidfile "$work/dockerd.pid" >"$work/dockerd.log" 2>&1 &
export BERTH_TEST_DOCKER_HOST="unix://$work/docker.sock"
ready=""
for _ in $(seq 300); do   # poll, at most about 60 s
  if DOCKER_HOST="$BERTH_TEST_DOCKER_HOST" docker version >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.2
done
if [ -z "$ready" ]; then
  echo "dockerd did not start:"; cat "$work/dockerd.log"; exit 1
fi

stage "tests"
# Everything but the appliance's boots, which need the image.
cargo test --workspace -- --skip appliance::

stage "appliance image (built in the background since the packages)"
if [ -n "$appliance_pid" ]; then
  pid=$appliance_pid
  appliance_pid=""
  finish "$pid" "$appliance_log" "appliance/build.sh"
  grep '^== appliance' "$appliance_log" || true
fi
stage "appliance tests (qemu)"
cargo test -p berth-tests --test it -- appliance::
stage "end"
