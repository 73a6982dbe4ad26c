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
#   DIR/berth-archive-keyring.gpg, .asc   the public key (binary for apt, armored for rpm)
#   DIR/berth.sources, DIR/berth.repo     the client configuration, pointing at --url
#   Serve DIR as a whole. Clients trust only the key installed on them (apt's Signed-By, dnf's
#   gpgkey is a local file), never one fetched with the packages: publish the key's
#   fingerprint, which this script prints, somewhere else, for operators to check.
# --keyring DIR: the GnuPG home holding the signing key (default target/repo-key), never inside
#   --out. A release passes its own; when DIR holds no secret key, one is generated there (for
#   tests and trials). BERTH_REPO_KEY picks the key by its 40-digit fingerprint when DIR holds
#   several.
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

out=$(realpath -m "$out")
keyring=$(realpath -m "$keyring")
case "$keyring/" in
  "$out"/*)
    echo "repos.sh: the keyring $keyring is inside $out, which is served; keep it elsewhere" >&2
    exit 2 ;;
esac
mkdir -p "$out"
mkdir -p -m 700 "$keyring"
chmod 700 "$keyring"
[ -n "$url" ] || url="file://$out"

# Every .rpm is checked before anything changes: a published version is never replaced.
for package in "$@"; do
  case "$package" in
    *.rpm)
      if [ -e "$out/rpm/$(basename "$package")" ]; then
        echo "repos.sh: $(basename "$package") is published already; a version is published once" >&2
        exit 1
      fi ;;
  esac
done

export GNUPGHOME="$keyring"
scratch=$(mktemp -d)
# gpg starts an agent for the keyring; it goes when the script does, with the scratch space.
trap 'gpgconf --kill all 2>/dev/null || true; rm -rf "$scratch"' EXIT

# The signing key: the one named, else the only one there, else a new one.
if ! gpg --batch --list-secret-keys --with-colons 2>/dev/null | grep -q '^sec'; then
  echo "repos.sh: no signing key in $keyring; generating one (for tests and trials only)"
  gpg --batch --quiet --pinentry-mode loopback --passphrase '' \
    --quick-generate-key "Berth packages <packages@berth.invalid>" rsa3072 sign 2y
fi
key="${BERTH_REPO_KEY:-}"
if [ -z "$key" ]; then
  # The primary keys' fingerprints (a subkey's follows its primary's `sec` line).
  key=$(gpg --batch --list-secret-keys --with-colons \
          | awk -F: '$1 == "sec" {primary = 1; next} primary && $1 == "fpr" {print $10; primary = 0}')
  if [ "$(echo "$key" | wc -l)" -ne 1 ]; then
    echo "repos.sh: $keyring holds several keys; name one in BERTH_REPO_KEY" >&2
    exit 2
  fi
fi
if ! echo "$key" | grep -Eqx '[0-9A-F]{40}'; then
  echo "repos.sh: BERTH_REPO_KEY must be a key's 40-digit fingerprint, in capitals" >&2
  exit 2
fi
gpg --batch --yes --export "$key" >"$out/berth-archive-keyring.gpg"
gpg --batch --yes --armor --export "$key" >"$out/berth-archive-keyring.asc"

# APT: reprepro's own state stays beside the keyring, out of what is served. The index is
# exported (so signed with the key named now) on every run.
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
reprepro --silent -b "$state" export stable

# RPM: each package signed in private scratch space (the input stays as built), checked, and
# moved in; then the metadata rebuilt and its index signed on every run, since dnf checks both
# (gpgcheck and repo_gpgcheck).
mkdir -p "$out/rpm" "$scratch/rpmdb"
rpmkeys --dbpath "$scratch/rpmdb" --import "$out/berth-archive-keyring.asc"
rpms=0
for package in "$@"; do
  case "$package" in
    *.rpm)
      signed="$scratch/$(basename "$package")"
      cp "$package" "$signed"
      rpmsign --define "_gpg_name $key" --define "_gpg_path $keyring" \
        --define "__gpg $(command -v gpg)" --addsign "$signed" >/dev/null
      rpmkeys --dbpath "$scratch/rpmdb" --checksig "$signed" >/dev/null
      mv "$signed" "$out/rpm/"
      rpms=$((rpms + 1))
      ;;
  esac
done
createrepo_c --quiet --update "$out/rpm"
gpg --batch --yes --local-user "$key" --detach-sign --armor \
  --output "$out/rpm/repodata/repomd.xml.asc" "$out/rpm/repodata/repomd.xml"

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
# /etc/yum.repos.d/berth.repo; the key goes to /etc/pki/rpm-gpg/RPM-GPG-KEY-berth
[berth]
name=Berth container registry
baseurl=$url/rpm
enabled=1
gpgcheck=1
repo_gpgcheck=1
gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-berth
EOF
echo "repos.sh: published $debs .deb and $rpms .rpm into $out"
echo "repos.sh: signed with the key whose fingerprint is $key"
