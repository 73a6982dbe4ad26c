#!/bin/sh
# Builds the .deb and the .rpm of Berth into target/packages/:
#   packaging/build.sh [VERSION]
# VERSION defaults to the workspace's; the tests pass a second one to check upgrades. Needs
# cargo-deb and cargo-generate-rpm (cargo install --locked cargo-deb cargo-generate-rpm).
set -eu
cd "$(dirname "$0")/.."
version="${1:-$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)}"
out=target/packages
mkdir -p "$out"

cargo build --release --locked --bin berthd --bin berth-setup
strip target/release/berthd target/release/berth-setup

cargo deb -p berth-daemon --no-build --no-strip --deb-version "$version-1" \
    --output "$out/berth_${version}-1_amd64.deb"
cargo generate-rpm -p daemon --set-metadata "version = \"$version\"" \
    --output "$out/berth-${version}-1.x86_64.rpm"
ls -l "$out"
