#!/usr/bin/env bash
# Build the lab's Debian bookworm box offline (no box download): debootstrap from the mirror
# the host's apt sources name, a root filesystem image with no bootloader (the VM boots the
# box's own kernel and initrd directly), packed as a vagrant-libvirt box.
#
#   sudo bash vagrant/build-box.sh            # builds once, then reuses the cache
#   PYKUBE_BOX_CACHE=/some/dir bash vagrant/build-box.sh
#   bash vagrant/build-box.sh --force         # rebuild
#
# Output in $PYKUBE_BOX_CACHE (default /var/cache/pykube/box):
#   pykube-bookworm.box   the box (box.img qcow2, metadata.json, Vagrantfile, vmlinuz, initrd.img)
#   vmlinuz, initrd.img   the same kernel and initrd, for the lab's Vagrantfile
#   box.stamp             what the cached box was built from (recipe hash); a match skips the build
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${PYKUBE_BOX_CACHE:-/var/cache/pykube/box}"
BOX="$CACHE/pykube-bookworm.box"
SUITE=bookworm
DISK_GB="${PYKUBE_BOX_DISK_GB:-8}"
PACKAGES=(systemd systemd-sysv dbus openssh-server sudo podman crun runc conmon catatonit
          netavark aardvark-dns iptables nftables python3 python3-venv python3-pip iproute2 iputils-ping
          libnss-myhostname linux-image-amd64 initramfs-tools rsync ca-certificates
          docker-registry busybox-static procps conntrack less)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
[ "$(id -u)" -eq 0 ] || { echo "build-box.sh needs root (debootstrap, chroot)" >&2; exit 1; }

# The recipe's hash: a changed package list or script means a rebuild.
recipe="$(cat "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)"
if [ "${1:-}" != "--force" ] && [ -s "$BOX" ] && [ "$(cat "$CACHE/box.stamp" 2>/dev/null)" = "$recipe" ]; then
    say "box cached: $BOX"
    exit 0
fi

# The mirror the host's apt sources name (deb822 .sources or one-line .list).
mirror() {
    local m
    m="$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -m1 '/debian/*$' || true)"
    [ -n "$m" ] || m="$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
                        awk '{for(i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; exit}}' | grep -m1 '/debian/*$' || true)"
    echo "${m:-http://deb.debian.org/debian}"
}
MIRROR="$(mirror)"

key="$(ls /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub \
          /opt/vagrant/embedded/gems/gems/vagrant-*/keys/vagrant.pub 2>/dev/null | head -1 || true)"
[ -n "$key" ] || { echo "Vagrant's insecure public key not found: install vagrant first (vagrant/lab setup)" >&2; exit 1; }
command -v debootstrap >/dev/null && command -v qemu-img >/dev/null ||
    { echo "needs debootstrap and qemu-utils (vagrant/lab setup)" >&2; exit 1; }

mkdir -p "$CACHE"
WORK="$(mktemp -d "$CACHE/build.XXXXXX")"
ROOT="$WORK/rootfs"
cleanup() {
    for m in dev/pts dev proc sys; do
        mountpoint -q "$ROOT/$m" 2>/dev/null && umount -l "$ROOT/$m" || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
t0=$SECONDS

say "debootstrap $SUITE from $MIRROR"
include="$(IFS=,; echo "${PACKAGES[*]}")"
debootstrap --variant=minbase --include="$include" "$SUITE" "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
    { tail -30 "$WORK/debootstrap.log" >&2; exit 1; }
say "debootstrap done in $((SECONDS - t0)) s"

say "configuring the root filesystem"
mount -t proc proc "$ROOT/proc"; mount -t sysfs sys "$ROOT/sys"
mount --bind /dev "$ROOT/dev"; mount --bind /dev/pts "$ROOT/dev/pts"
printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"; chmod +x "$ROOT/usr/sbin/policy-rc.d"
# podman's network stack is left half-configured by debootstrap: finish it.
chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get -f install -y -q >"$WORK/apt-fix.log" 2>&1 ||
    { tail -30 "$WORK/apt-fix.log" >&2; exit 1; }
chroot "$ROOT" /bin/sh -euc '
    useradd -m -s /bin/bash -G sudo vagrant
    echo "vagrant:vagrant" | chpasswd
    echo "root:vagrant" | chpasswd
    echo "vagrant ALL=(ALL) NOPASSWD:ALL" > /etc/sudoers.d/vagrant
    chmod 0440 /etc/sudoers.d/vagrant
    install -d -m 700 -o vagrant -g vagrant /home/vagrant/.ssh
    systemctl enable systemd-networkd ssh podman.socket >/dev/null 2>&1
    systemctl disable docker-registry >/dev/null 2>&1 || true
    systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer \
        man-db.timer systemd-timesyncd.service >/dev/null 2>&1 || true
    apt-get clean
'
install -m 600 -o 1000 -g 1000 "$key" "$ROOT/home/vagrant/.ssh/authorized_keys"
rm -f "$ROOT/usr/sbin/policy-rc.d"
umount "$ROOT/dev/pts" "$ROOT/dev" "$ROOT/sys" "$ROOT/proc"

# An EMPTY machine-id: each clone makes its own at first boot (else they share a DHCP lease).
: > "$ROOT/etc/machine-id"; rm -f "$ROOT/var/lib/dbus/machine-id"
# Blank resolv.conf (no DNS in the lab) + libnss-myhostname: sudo resolves its own name at once.
: > "$ROOT/etc/resolv.conf"
echo "lab" > "$ROOT/etc/hostname"   # the real name comes from systemd.hostname= on the kernel cmdline
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' > "$ROOT/etc/hosts"
echo '/dev/vda / ext4 defaults,noatime 0 1' > "$ROOT/etc/fstab"
cat > "$ROOT/etc/systemd/network/99-dhcp.network" <<'EOF'
# Written by pykube's build-box.sh: DHCP on every NIC vagrant did not configure itself.
# (99-: networkd takes the first matching file, and vagrant writes 50-vagrant-ethN.network)
[Match]
Name=eth* en*

[Network]
DHCP=ipv4
LinkLocalAddressing=no

[DHCPv4]
ClientIdentifier=mac
UseDNS=no
EOF
sed -i 's/^#\?UseDNS.*/UseDNS no/' "$ROOT/etc/ssh/sshd_config"; grep -q '^UseDNS' "$ROOT/etc/ssh/sshd_config" || echo 'UseDNS no' >> "$ROOT/etc/ssh/sshd_config"
# Host keys are made per VM at first boot, not baked into the box.
rm -f "$ROOT"/etc/ssh/ssh_host_*
mkdir -p "$ROOT/etc/systemd/system/ssh.service.d"
printf '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n' \
    > "$ROOT/etc/systemd/system/ssh.service.d/hostkeys.conf"
# A quiet, quick boot on a serial console.
mkdir -p "$ROOT/etc/systemd/system.conf.d"
printf '[Manager]\nDefaultTimeoutStopSec=10s\n' > "$ROOT/etc/systemd/system.conf.d/pykube.conf"
ln -sf /dev/null "$ROOT/etc/systemd/system/systemd-networkd-wait-online.service"

kernel="$(ls "$ROOT"/boot/vmlinuz-* | sort -V | tail -1)"
initrd="$(ls "$ROOT"/boot/initrd.img-* | sort -V | tail -1)"
cp "$kernel" "$WORK/vmlinuz"; cp "$initrd" "$WORK/initrd.img"; chmod 644 "$WORK/vmlinuz" "$WORK/initrd.img"
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/*

say "root filesystem image (ext4 -d, ${DISK_GB} GiB sparse) → qcow2"
truncate -s "${DISK_GB}G" "$WORK/root.raw"
mkfs.ext4 -q -F -L pykube-root -d "$ROOT" "$WORK/root.raw"
qemu-img convert -O qcow2 "$WORK/root.raw" "$WORK/box.img"
rm -f "$WORK/root.raw"

cat > "$WORK/metadata.json" <<EOF
{"provider": "libvirt", "format": "qcow2", "virtual_size": $DISK_GB}
EOF
cat > "$WORK/Vagrantfile" <<'EOF'
# pykube's locally built Debian bookworm box: no bootloader; the VM boots this box's own
# kernel and initrd directly. A Vagrantfile using the box may override cmd_line (hostname).
box_dir = File.dirname(__FILE__)
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |libvirt|
    libvirt.kernel = File.join(box_dir, "vmlinuz")
    libvirt.initrd = File.join(box_dir, "initrd.img")
    libvirt.cmd_line = "root=/dev/vda rw console=ttyS0 net.ifnames=0 quiet"
  end
end
EOF
say "packing the box"
tar -C "$WORK" -cf "$WORK/box.tmp" metadata.json Vagrantfile box.img vmlinuz initrd.img
mv "$WORK/box.tmp" "$BOX"
cp "$WORK/vmlinuz" "$WORK/initrd.img" "$CACHE/"
echo "$recipe" > "$CACHE/box.stamp"
say "box built in $((SECONDS - t0)) s: $BOX ($(du -h "$BOX" | cut -f1))"
