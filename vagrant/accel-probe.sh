#!/usr/bin/env bash
# Print the libvirt domain type the lab's VMs can use here: "kvm" when KVM really runs a Linux
# kernel, else "qemu" (software emulation). A /dev/kvm that opens is not enough: on some hosts
# (nested virtualisation without the CPU features a stock kernel needs) KVM creates a VM that
# never boots. So the probe boots a kernel under KVM, without a root filesystem, and waits for
# the panic that says the kernel ran (about a second with working KVM).
#
#   accel-probe.sh [KERNEL]    KERNEL defaults to the lab box's, else the host's newest
set -uo pipefail

kernel="${1:-}"
if [ -z "$kernel" ]; then
    for k in "${PYKUBE_BOX_CACHE:-/var/cache/pykube/box}/vmlinuz" $(ls /boot/vmlinuz-* 2>/dev/null | sort -V -r); do
        [ -r "$k" ] && { kernel="$k"; break; }
    done
fi
qemu="$(command -v qemu-system-x86_64 || true)"
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ] || [ -z "$qemu" ] || [ -z "$kernel" ]; then
    echo qemu; exit 0
fi
out="$(mktemp)"
timeout 20 "$qemu" -accel kvm -cpu host -m 256 -display none -nodefaults -no-reboot \
    -serial "file:$out" -kernel "$kernel" -append "console=ttyS0 panic=-1 root=/dev/nonexistent" \
    >/dev/null 2>&1
if grep -q 'Kernel panic' "$out"; then echo kvm; else echo qemu; fi
rm -f "$out"
