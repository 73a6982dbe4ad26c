#!/bin/sh
# mmdebstrap's customize hook for the appliance: turns the installed tree into a system that
# boots on its own and configures itself on first boot. $1 is the tree, $2 the root file
# system's UUID (chosen by build.sh, which makes that file system).
set -eu
root="$1"
root_uuid="$2"

cat > "$root/etc/fstab" <<FSTAB
# The root file system grows to fill its partition (x-systemd.growfs) on every boot; a data
# disk, when one was attached at first boot, is added below by berth-appliance-setup.
UUID=$root_uuid / ext4 defaults,errors=remount-ro,x-systemd.growfs 0 1
FSTAB

echo berth > "$root/etc/hostname"
cat > "$root/etc/hosts" <<HOSTS
127.0.0.1 localhost
127.0.1.1 berth
::1 localhost ip6-localhost ip6-loopback
HOSTS

# First boot is when the machine ID is "uninitialized" (an empty file is not one for systemd
# 252): each copy of the image gets its own ID, and so its own DHCP client identifier.
echo uninitialized > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"

# Host keys made now would be shared by every copy: ssh stays off, without keys, unless an
# answer turns it on (berth-setup then makes this machine's keys).
rm -f "$root"/etc/ssh/ssh_host_*
systemctl --root="$root" disable ssh.service >/dev/null 2>&1 || true

systemctl --root="$root" enable systemd-networkd.service systemd-networkd-wait-online.service \
  systemd-resolved.service systemd-timesyncd.service \
  berth-appliance-setup.service berth-firstboot@tty1.service berth-firstboot@ttyS0.service
mkdir -p "$root/etc/systemd/system/systemd-networkd-wait-online.service.d"
cat > "$root/etc/systemd/system/systemd-networkd-wait-online.service.d/berth.conf" <<UNIT
# One configured interface is enough, and a network that never comes does not hold the first
# boot for two minutes.
[Service]
ExecStart=
ExecStart=/lib/systemd/systemd-networkd-wait-online --any --timeout=30
UNIT

# GRUB: the BIOS modules come with grub-install (build.sh); the UEFI ones are copied here, and
# grub.cfg is written for the one kernel installed (update-grub rewrites it on kernel updates,
# from /etc/default/grub).
mkdir -p "$root/boot/grub/x86_64-efi"
cp "$root"/usr/lib/grub/x86_64-efi/*.mod "$root"/usr/lib/grub/x86_64-efi/*.lst "$root/boot/grub/x86_64-efi/"
kernel=$(cd "$root/boot" && ls vmlinuz-* | sort -V | tail -n 1)
initrd="initrd.img-${kernel#vmlinuz-}"
cat > "$root/boot/grub/grub.cfg" <<GRUB
# Written by appliance/build.sh; update-grub replaces it when a new kernel is installed.
set default=0
set timeout=1
serial --speed=115200
terminal_input console serial
terminal_output console serial
insmod part_gpt
insmod ext2
insmod gzio
search --no-floppy --fs-uuid --set=root $root_uuid
menuentry 'Berth appliance (Debian 12)' {
  linux /boot/$kernel root=UUID=$root_uuid ro quiet console=tty0 console=ttyS0,115200n8
  initrd /boot/$initrd
}
GRUB
