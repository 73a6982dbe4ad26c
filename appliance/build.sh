#!/usr/bin/env bash
# Builds the Berth appliance from Debian 12 packages and our .deb, as root, without Docker:
#
#   appliance/build.sh [VERSION]
#
# into target/appliance/: berth-VERSION.qcow2 (KVM, Proxmox) and berth-VERSION.ova (vSphere,
# VirtualBox: the OVF descriptor, its manifest, a streamOptimized VMDK). VERSION defaults to the
# workspace's; the .deb is target/packages/berth_VERSION-1_amd64.deb, built by
# packaging/build.sh when missing. The only network used is the Debian archive named by this
# machine's own apt sources (BERTH_APPLIANCE_SOURCES=FILE names another deb822 sources file).
#
# The steps, each with the tool made for it (see ARCHITECTURE.md, "appliance"):
#   mmdebstrap            the root file system, in a directory (no loop device, no mount)
#   mkfs.ext4 -d          that directory as an ext4 image (no mount)
#   mkfs.vfat + mtools    the EFI system partition with GRUB's UEFI image (no mount)
#   sfdisk                the GPT (BIOS boot, ESP, root) written into the disk file
#   grub-install          GRUB's BIOS boot code, on a loop device whose root partition is
#                         mounted: the one step that needs the kernel (partx adds partitions,
#                         as this kernel parses no partition tables itself; grub-install
#                         asks udevadm where the partition starts, since newer kernels
#                         answer no HDIO_GETGEO on a loop partition)
#   qemu-img              qcow2, and the streamOptimized VMDK; tar --format=ustar the OVA
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

version="${1:-$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)}"
out="$repo/target/appliance"
deb="$repo/target/packages/berth_${version}-1_amd64.deb"
disk_size_gib=32     # what the VM sees; the root file system grows into it at first boot
esp_mib=64

stage_started=$SECONDS
stage() {
  echo "== appliance: $1 (previous step $((SECONDS - stage_started)) s)"
  stage_started=$SECONDS
}

[ "$(id -u)" = 0 ] || { echo "appliance/build.sh: run as root (mmdebstrap and a loop device)"; exit 1; }
for tool in mmdebstrap mkfs.ext4 mkfs.vfat mcopy sfdisk grub-install grub-mkimage qemu-img partx udevadm; do
  command -v "$tool" >/dev/null || {
    echo "appliance/build.sh: $tool is missing; apt-get install mmdebstrap e2fsprogs dosfstools mtools fdisk grub-pc-bin grub-efi-amd64-bin grub2-common udev qemu-utils"
    exit 1
  }
done

if [ ! -f "$deb" ]; then
  stage "building the .deb"
  packaging/build.sh "$version"
fi

# The machine's own Debian sources (deb822), the main archive and security, nothing else.
sources="${BERTH_APPLIANCE_SOURCES:-}"
if [ -z "$sources" ]; then
  sources=$(grep -l -E '^Suites:.*bookworm' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1 || true)
fi
[ -n "$sources" ] && [ -f "$sources" ] || {
  echo "appliance/build.sh: no deb822 Debian 12 sources in /etc/apt/sources.list.d/; set BERTH_APPLIANCE_SOURCES"
  exit 1
}

mkdir -p "$out"
work=$(mktemp -d "$out/build.XXXXXX")
mnt="$work/mnt"
loop=""
cleanup() {
  # Whatever is still mounted below the work directory (mmdebstrap's own, when it failed).
  { findmnt -rno TARGET | grep "^$work/" || true; } | sort -r | while read -r target; do umount "$target" || true; done
  if [ -n "$loop" ]; then
    partx -d "$loop" 2>/dev/null || true
    losetup -d "$loop" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

root_uuid=$(cat /proc/sys/kernel/random/uuid)
esp_serial=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F)   # vfat volume id
tree="$work/tree"

stage "root file system (mmdebstrap)"
packages=(
  # boot and the system
  systemd-sysv udev dbus systemd-timesyncd systemd-resolved kmod linux-image-amd64 initramfs-tools zstd
  grub-pc-bin grub-efi-amd64-bin grub2-common
  # VMware's OVF environment; the network; an operator's few tools
  open-vm-tools iproute2 iputils-ping netbase ca-certificates curl less nano procps
  openssh-server unattended-upgrades
  # data disk and seed disk
  e2fsprogs util-linux
)
# What nobody reads on an appliance: manuals, changelogs, translations, and the kernel's
# drivers for hardware no virtual machine has (sound, wireless, GPUs, InfiniBand, ...). Files
# only: dpkg cannot unpack into a directory an earlier exclusion left out.
excludes=(
  /usr/share/doc/*.gz /usr/share/man/*.gz /usr/share/info/*.gz /usr/share/locale/*.mo
  /lib/modules/*/kernel/sound/*.ko /lib/modules/*/kernel/net/wireless/*.ko /lib/modules/*/kernel/net/mac80211/*.ko
  /lib/modules/*/kernel/net/bluetooth/*.ko /lib/modules/*/kernel/drivers/bluetooth/*.ko
  /lib/modules/*/kernel/drivers/net/wireless/*.ko /lib/modules/*/kernel/drivers/media/*.ko
  /lib/modules/*/kernel/drivers/infiniband/*.ko /lib/modules/*/kernel/drivers/staging/*.ko
  /lib/modules/*/kernel/drivers/iio/*.ko /lib/modules/*/kernel/drivers/isdn/*.ko
  /lib/modules/*/kernel/drivers/gpu/drm/amd/*.ko /lib/modules/*/kernel/drivers/gpu/drm/nouveau/*.ko
  /lib/modules/*/kernel/drivers/gpu/drm/i915/*.ko /lib/modules/*/kernel/drivers/gpu/drm/radeon/*.ko
  /lib/modules/*/kernel/drivers/net/ethernet/mellanox/*.ko /lib/modules/*/kernel/drivers/net/ethernet/chelsio/*.ko
  /lib/modules/*/kernel/drivers/net/ethernet/qlogic/*.ko /lib/modules/*/kernel/drivers/net/ethernet/marvell/*.ko
  /lib/modules/*/kernel/drivers/net/ethernet/netronome/*.ko /lib/modules/*/kernel/drivers/net/ethernet/sfc/*.ko
  /lib/modules/*/kernel/drivers/net/ethernet/huawei/*.ko /lib/modules/*/kernel/drivers/net/ethernet/cavium/*.ko
  /lib/modules/*/kernel/drivers/net/can/*.ko /lib/modules/*/kernel/drivers/net/usb/*.ko
  /lib/modules/*/kernel/drivers/scsi/qla2xxx/*.ko /lib/modules/*/kernel/drivers/scsi/lpfc/*.ko
  /lib/modules/*/kernel/drivers/scsi/mpt3sas/*.ko /lib/modules/*/kernel/drivers/scsi/bfa/*.ko
  /lib/modules/*/kernel/drivers/scsi/qedf/*.ko /lib/modules/*/kernel/drivers/scsi/be2iscsi/*.ko
)
dpkgopts=()
for path in "${excludes[@]}"; do dpkgopts+=("--dpkgopt=path-exclude=$path"); done

mmdebstrap --mode=root --variant=minbase \
  --include="$(IFS=,; echo "${packages[*]}")" --include="$deb" \
  --hook-dir=/usr/share/mmdebstrap/hooks/file-mirror-automount \
  "${dpkgopts[@]}" \
  --essential-hook='echo "unattended-upgrades unattended-upgrades/enable_auto_updates boolean false" | chroot "$1" debconf-set-selections' \
  --customize-hook="sync-in $repo/appliance/rootfs /" \
  --customize-hook="$repo/appliance/customize.sh \"\$1\" $root_uuid" \
  bookworm "$tree" "$sources"

stage "file systems (mkfs.ext4 -d, mkfs.vfat, mtools)"
# Room for the first boot; the file system grows to the whole partition when it is mounted.
tree_mib=$(du -sm "$tree" | cut -f1)
root_mib=$(( tree_mib * 13 / 10 + 256 ))
truncate -s "${root_mib}M" "$work/root.img"
mkfs.ext4 -q -L berth-root -U "$root_uuid" -d "$tree" -E lazy_itable_init=1,lazy_journal_init=1 "$work/root.img"

# GRUB for UEFI: one image that finds the root file system by its UUID and reads the same
# /boot/grub/grub.cfg as BIOS boot does; its modules are in the root file system.
cat > "$work/early.cfg" <<EOF
search --no-floppy --fs-uuid --set=root $root_uuid
set prefix=(\$root)/boot/grub
EOF
grub-mkimage -O x86_64-efi -d "$tree/usr/lib/grub/x86_64-efi" -p /boot/grub -c "$work/early.cfg" \
  -o "$work/BOOTX64.EFI" part_gpt part_msdos ext2 search search_fs_uuid normal configfile \
  linux echo gzio all_video efi_gop test serial terminal
truncate -s "${esp_mib}M" "$work/esp.img"
mkfs.vfat -F 32 -n EFI -i "$esp_serial" "$work/esp.img" >/dev/null
mmd -i "$work/esp.img" ::/EFI ::/EFI/BOOT
mcopy -i "$work/esp.img" "$work/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI

stage "disk (sfdisk, grub-install)"
disk="$work/disk.raw"
truncate -s "${disk_size_gib}G" "$disk"
sfdisk --quiet "$disk" <<EOF
label: gpt
start=2048, size=2048, type=21686148-6449-6E6F-744E-656564454649, name="bios"
size=${esp_mib}MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="esp"
type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name="root"
EOF
esp_start=$(partx --noheadings --output START --nr 2 "$disk" | tr -d ' ')
root_start=$(partx --noheadings --output START --nr 3 "$disk" | tr -d ' ')
dd if="$work/esp.img" of="$disk" bs=512 seek="$esp_start" conv=notrunc,sparse status=none
dd if="$work/root.img" of="$disk" bs=1M seek="$((root_start / 2048))" conv=notrunc,sparse status=none
rm -f "$work/root.img" "$work/esp.img"

loop=$(losetup --find --show "$disk")
partx -a "$loop"
mkdir -p "$mnt"
mount "${loop}p3" "$mnt"
grub-install --target=i386-pc --directory="$mnt/usr/lib/grub/i386-pc" \
  --boot-directory="$mnt/boot" --modules="part_gpt ext2" "$loop"
umount "$mnt"
partx -d "$loop"
losetup -d "$loop"
loop=""

stage "qcow2 and OVA (qemu-img, tar)"
qcow2="$out/berth-$version.qcow2"
qemu-img convert -c -f raw -O qcow2 "$disk" "$qcow2.part"
mv "$qcow2.part" "$qcow2"
vmdk_name="berth-$version-disk1.vmdk"
qemu-img convert -f raw -O vmdk \
  -o subformat=streamOptimized,adapter_type=lsilogic,hwversion=13 "$disk" "$work/$vmdk_name"
rm -f "$disk"
vmdk_bytes=$(stat -c %s "$work/$vmdk_name")
sed -e "s/@VERSION@/$version/g" -e "s/@VMDK@/$vmdk_name/g" -e "s/@VMDK_BYTES@/$vmdk_bytes/g" \
  -e "s/@CAPACITY@/$((disk_size_gib * 1024 * 1024 * 1024))/g" \
  "$repo/appliance/berth.ovf.in" > "$work/berth-$version.ovf"
# The manifest's lines exactly as VMware wants them: SHA256(name)= hex.
(cd "$work" && for f in "berth-$version.ovf" "$vmdk_name"; do
  echo "SHA256($f)= $(sha256sum "$f" | cut -d' ' -f1)"
done > "berth-$version.mf")
# The descriptor first, then the manifest, then the disk (DSP0243), in POSIX ustar.
tar --format=ustar --owner=0 --group=0 --numeric-owner -C "$work" \
  -cf "$out/berth-$version.ova.part" "berth-$version.ovf" "berth-$version.mf" "$vmdk_name"
mv "$out/berth-$version.ova.part" "$out/berth-$version.ova"

stage "done"
ls -l "$out"/berth-"$version".*
