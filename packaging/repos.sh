#!/bin/sh
# Publishes Berth's packages into a signed APT repository (reprepro) and a signed RPM repository
# (rpmsign, createrepo_c), so operators install and upgrade with `apt install berth` and
# `dnf install berth`:
#
#   packaging/repos.sh [--out DIR] [--keyring DIR] [--url URL] [PACKAGE...]
#
# PACKAGE: .deb and .rpm files (default: this version's, from target/packages/, which
#   packaging/build.sh writes). A repository keeps what it had: each run adds to it, and the
#   newest version of `berth` is the one clients install or upgrade to. A version is published
#   once; its contents cannot change afterwards.
# --out DIR: the repositories, to serve as they are (default target/repos):
#   DIR/apt/   dists/ and pool/ (Release signed: InRelease and Release.gpg)
#   DIR/rpm/   signed packages and repodata/ (repomd.xml signed: repomd.xml.asc)
#   DIR/berth-archive-keyring.gpg, .asc   the public key, for apt's Signed-By and dnf's gpgkey
#   DIR/berth.sources, DIR/berth.repo     the client configuration, pointing at --url
# --keyring DIR: the GnuPG home holding the signing key (default target/repo-key). A release
#   passes its own; when DIR holds no secret key, one is generated there (for tests and trials).
#   BERTH_REPO_KEY picks the key by fingerprint when DIR holds several.
# --url URL: where DIR will be served (default file://DIR).
#
# Needs reprepro, createrepo-c, rpm (rpmsign) and gnupg.
set -eu
cd "$(dirname "$0")/.."

out=target/repos
keyring=target/repo-key
url=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --keyring) keyring="$2"; shift 2 ;;
    --url) url="$2"; shift 2 ;;
    --) shift; break ;;
    -*) echo "repos.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
if [ $# -eq 0 ]; then
  version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
  set -- "target/packages/berth_${version}-1_amd64.deb" "target/packages/berth-${version}-1.x86_64.rpm"
fi
for package in "$@"; do
  case "$package" in
    *.deb|*.rpm) [ -f "$package" ] || { echo "repos.sh: no such package: $package" >&2; exit 2; } ;;
    *) echo "repos.sh: not a .deb or .rpm: $package" >&2; exit 2 ;;
  esac
done

mkdir -p "$out" "$keyring"
out=$(cd "$out" && pwd)
keyring=$(cd "$keyring" && pwd)
chmod 700 "$keyring"
[ -n "$url" ] || url="file://$out"
export GNUPGHOME="$keyring"
# gpg starts an agent for the keyring; it goes when the script does.
trap 'gpgconf --kill all 2>/dev/null || true' EXIT

# The signing key: the one named, else the only one there, else a new one.
if ! gpg --batch --list-secret-keys --with-colons 2>/dev/null | grep -q '^sec'; then
  echo "repos.sh: no signing key in $keyring; generating one (for tests and trials only)"
  gpg --batch --quiet --pinentry-mode loopback --passphrase '' \
    --quick-generate-key "Berth packages <packages@berth.invalid>" rsa3072 sign 2y
fi
key="${BERTH_REPO_KEY:-}"
if [ -z "$key" ]; then
  key=$(gpg --batch --list-secret-keys --with-colons | awk -F: '$1 == "fpr" {print $10}')
  if [ "$(echo "$key" | wc -l)" -ne 1 ]; then
    echo "repos.sh: $keyring holds several keys; name one in BERTH_REPO_KEY" >&2
    exit 2
  fi
fi
gpg --batch --yes --export "$key" >"$out/berth-archive-keyring.gpg"
gpg --batch --yes --armor --export "$key" >"$out/berth-archive-keyring.asc"

# APT: reprepro's own state stays beside the keyring, out of what is served.
state="$keyring/reprepro"
mkdir -p "$state/conf" "$out/apt"
cat >"$state/conf/distributions" <<EOF
Origin: Berth
Label: Berth
Suite: stable
Codename: stable
Architectures: amd64
Components: main
Description: Berth container registry
SignWith: $key
EOF
echo "outdir $out/apt" >"$state/conf/options"
debs=0
for package in "$@"; do
  case "$package" in
    *.deb) reprepro --silent -b "$state" includedeb stable "$package"; debs=$((debs + 1)) ;;
  esac
done

# RPM: each package signed in the repository (the input stays as built), then the metadata
# rebuilt and its index signed, since dnf checks both (gpgcheck and repo_gpgcheck).
mkdir -p "$out/rpm"
rpms=0
for package in "$@"; do
  case "$package" in
    *.rpm)
      target="$out/rpm/$(basename "$package")"
      if [ -f "$target" ]; then
        echo "repos.sh: $(basename "$package") is published already; a version is published once" >&2
        exit 1
      fi
      cp "$package" "$target.partial"
      rpmsign --define "_gpg_name $key" --define "_gpg_path $keyring" \
        --define "__gpg $(command -v gpg)" \
        --addsign "$target.partial" >/dev/null
      mv "$target.partial" "$target"
      rpms=$((rpms + 1))
      ;;
  esac
done
if [ "$rpms" -gt 0 ] || [ ! -f "$out/rpm/repodata/repomd.xml" ]; then
  createrepo_c --quiet --update "$out/rpm"
  gpg --batch --yes --local-user "$key" --detach-sign --armor \
    --output "$out/rpm/repodata/repomd.xml.asc" "$out/rpm/repodata/repomd.xml"
fi

# The client side, as operators put it in place.
cat >"$out/berth.sources" <<EOF
# /etc/apt/sources.list.d/berth.sources; the key goes to /etc/apt/keyrings/berth-archive-keyring.gpg
Types: deb
URIs: $url/apt
Suites: stable
Components: main
Signed-By: /etc/apt/keyrings/berth-archive-keyring.gpg
EOF
cat >"$out/berth.repo" <<EOF
# /etc/yum.repos.d/berth.repo
[berth]
name=Berth container registry
baseurl=$url/rpm
enabled=1
gpgcheck=1
repo_gpgcheck=1
gpgkey=$url/berth-archive-keyring.asc
EOF
echo "repos.sh: published $debs .deb and $rpms .rpm into $out (key $key)"
