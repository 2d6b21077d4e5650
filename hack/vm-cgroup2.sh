#!/usr/bin/env bash
# Run rt's cgroup tests on a cgroup v2 host: this machine is a v1 hybrid
# (see shared/HOST.md), so boot Debian's 6.1 kernel under qemu (TCG) with
# cgroup_no_v1=all and run, inside, the cgroup integration tests
# (tests/cgroups.rs, tests/cgroup_enforcement.rs) and the conformance
# resources, devices and cgroups cases against the given rt.
#
#   sudo hack/vm-cgroup2.sh --rt PATH --out DIR
#
# The guest sees the host's / read-only through 9p under a tmpfs overlay (so
# the tests, the toolchain's libraries and busybox are there) and DIR
# read-write; it never touches the host's cgroups. The kernel package is
# fetched with apt-get download and kept in ~/.cache/rt-vm (RT_VM_CACHE).
# Prints a summary; the exit status is non-zero when a test failed or the
# guest did not finish.
set -euo pipefail
# shellcheck source=hack/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() { die "usage: $0 --rt PATH --out DIR"; }
rt='' out=''
while (($#)); do
	case $1 in
	--rt | --out)
		(($# >= 2)) || usage
		if [[ $1 == --rt ]]; then rt=$2; else out=$2; fi
		shift 2
		;;
	*) usage ;;
	esac
done
[[ -n $rt && -n $out ]] || usage
need_root "$0 (qemu's 9p server must read every file of the host)"
[[ -x $rt ]] || die "--rt $rt: not an executable"
rt=$(realpath "$rt")
mkdir -p "$out"
out=$(realpath "$out")
cache=${RT_VM_CACHE:-$HOME/.cache/rt-vm}
modules=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
	9pnet 9pnet_virtio netfs fscache 9p overlay virtio_blk)

newest_in_index() {
	apt-cache pkgnames linux-image-6.1.0- 2>/dev/null |
		grep -E '^linux-image-6\.1\.0-[0-9]+-amd64$' | sort -V | tail -n 1
}

# The newest linux-image-6.1.0-N-amd64 the apt index knows (after an
# `apt-get update` when it knows none), else the newest one in the cache.
kernel_package() {
	local pkg
	pkg=$(newest_in_index) || true
	if [[ -z $pkg ]] && apt-get update -q >/dev/null 2>&1; then
		pkg=$(newest_in_index) || true
	fi
	if [[ -z $pkg ]]; then
		pkg=$(find "$cache" -mindepth 1 -maxdepth 1 -type d -name 'linux-image-6.1.0-*' \
			-printf '%f\n' 2>/dev/null | sort -V | tail -n 1) || true
	fi
	[[ -n $pkg ]] || die "no linux-image-6.1.0-*-amd64 in the apt index (run apt-get update)"
	printf '%s\n' "$pkg"
}

# Unpacks the package into $cache/PKG: vmlinux (uncompressed: TCG is slow at
# decompressing, and qemu boots the ELF through its PVH entry) and the
# modules the guest needs for 9p, overlayfs and a virtio disk.
fetch_kernel() {
	local pkg=$1 dir=$cache/$1 tmp vmlinuz off m ko
	[[ -s $dir/vmlinux && -f $dir/modules/virtio_blk.ko ]] && return 0
	log "fetching $pkg into $dir"
	mkdir -p "$cache"
	tmp=$(mktemp -d "$cache/tmp.XXXXXX")
	(cd "$tmp" && apt-get download -q "$pkg" >/dev/null 2>&1) ||
		{ rm -rf -- "$tmp"; die "apt-get download $pkg failed"; }
	dpkg-deb -x "$tmp"/*.deb "$tmp/x"
	vmlinuz=$(echo "$tmp"/x/boot/vmlinuz-*)
	# The xz stream inside the bzImage (Debian builds with CONFIG_KERNEL_XZ).
	off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$vmlinuz" | head -n 1 | cut -d: -f1) ||
		{ rm -rf -- "$tmp"; die "$vmlinuz: no xz stream found"; }
	mkdir -p "$tmp/out/modules"
	tail -c "+$((off + 1))" "$vmlinuz" | xz -dc --single-stream >"$tmp/out/vmlinux" 2>/dev/null || true
	[[ -s $tmp/out/vmlinux ]] || { rm -rf -- "$tmp"; die "could not decompress $vmlinuz"; }
	for m in "${modules[@]}"; do
		ko=$(find "$tmp"/x/lib/modules -name "$m.ko*" | head -n 1)
		[[ -n $ko ]] || { rm -rf -- "$tmp"; die "$pkg has no module $m"; }
		case $ko in
		*.xz) xz -dc "$ko" >"$tmp/out/modules/$m.ko" ;;
		*.zst) zstd -qdc "$ko" >"$tmp/out/modules/$m.ko" ;;
		*) cp "$ko" "$tmp/out/modules/$m.ko" ;;
		esac
	done
	rm -rf -- "$dir"
	mv "$tmp/out" "$dir"
	rm -rf -- "$tmp"
}

# The test binaries (dynamically linked: the guest has the host's libraries)
# and the conformance probe (static: it runs inside busybox containers).
build_tests() {
	find_cargo
	cd "$RT_TOP"
	log "building the cgroup tests and the conformance runner"
	cargo test --quiet --no-run --test cgroups --test cgroup_enforcement --message-format=json |
		jq -r 'select(.executable != null and .profile.test) | .executable' >"$out/test-binaries"
	RUSTFLAGS=$RT_STATIC_RUSTFLAGS cargo build --quiet --release -p rt-conformance --bin probe --target "$RT_TARGET"
	cargo build --quiet -p rt-conformance --bin runner
}

# What runs in the guest, as root in the overlay of the host's /.
write_guest_script() {
	local bin
	{
		# shellcheck disable=SC2016 # expanded in the guest
		printf '%s\n' '#!/bin/sh' '# Written by hack/vm-cgroup2.sh.' 'cd /tmp' 'rc=0' \
			'echo "guest: $(uname -r), cgroup2 controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"'
		while IFS= read -r bin; do
			printf 'echo "==> %s"\n' "$(basename "$bin")"
			printf 'RT_BIN=%q %q --test-threads=2 || rc=1\n' "$rt" "$bin"
		done <"$out/test-binaries"
		printf 'echo "==> conformance"\n'
		printf '%q --probe %q %q resources.,devcgroup.,cgroups. || rc=1\n' \
			"$RT_TOP/target/debug/runner" "$RT_TOP/target/$RT_TARGET/release/probe" "$rt"
		printf '%s\n' "exit \$rc"
	} >"$out/guest.sh"
	chmod +x "$out/guest.sh"
}

# A busybox initramfs whose /init mounts the host's / (9p, read-only) under
# a tmpfs overlay (so /tmp, and a clone under it, stay visible and become
# writable), the output directory (9p, read-write), a cgroup2-only
# /sys/fs/cgroup with every controller delegated, runs guest.sh there and
# powers off.
build_initramfs() {
	local dir=$1 kdir=$2 m
	mkdir -p "$dir"/{bin,dev,proc,sys,modules,host,rw,newroot}
	cp /bin/busybox "$dir/bin/busybox"
	for m in "${modules[@]}"; do cp "$kdir/modules/$m.ko" "$dir/modules/"; done
	cat >"$dir/init" <<-EOF
		#!/bin/busybox sh
		/bin/busybox --install -s /bin
		mount -t proc proc /proc
		mount -t sysfs sysfs /sys
		mount -t devtmpfs devtmpfs /dev
		for m in ${modules[*]}; do insmod /modules/\$m.ko || echo "insmod \$m failed"; done
		mount -t 9p -o trans=virtio,version=9p2000.L,ro hostroot /host
		mount -t tmpfs -o mode=755 rw /rw
		mkdir -p /rw/upper /rw/work
		mount -t overlay overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work /newroot
		mkdir -p /newroot$out
		mount -t 9p -o trans=virtio,version=9p2000.L out /newroot$out
		mount -t proc proc /newroot/proc
		mount -t sysfs sysfs /newroot/sys
		mount -t cgroup2 cgroup2 /newroot/sys/fs/cgroup
		mount -t devtmpfs devtmpfs /newroot/dev
		mkdir -p /newroot/dev/pts
		mount -t devpts devpts /newroot/dev/pts
		mount -t tmpfs tmpfs /newroot/run
		for c in \$(cat /newroot/sys/fs/cgroup/cgroup.controllers); do
			echo "+\$c" >/newroot/sys/fs/cgroup/cgroup.subtree_control
		done
		chroot /newroot /bin/sh -c 'PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root $out/guest.sh' >/newroot$out/guest.log 2>&1
		echo \$? >/newroot$out/guest.rc
		sync
		poweroff -f
	EOF
	chmod +x "$dir/init"
	(cd "$dir" && find . | busybox cpio -o -H newc 2>/dev/null) >"$dir.cpio"
}

tmp=''
main() {
	local pkg kdir rc
	pkg=$(kernel_package)
	fetch_kernel "$pkg"
	kdir=$cache/$pkg
	build_tests
	write_guest_script
	rm -f "$out/guest.rc" "$out/guest.log"
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/rt-vm.XXXXXX")
	trap '[[ -z $tmp ]] || rm -rf -- "$tmp"' EXIT
	build_initramfs "$tmp/initramfs" "$kdir"
	# An empty disk, so that the guest has a block device to throttle.
	truncate -s 1M "$tmp/disk.img"
	log "booting $pkg (cgroup_no_v1=all) under qemu TCG; console in $out/console.log"
	rc=0
	timeout 900 qemu-system-x86_64 -accel tcg -smp 2 -m 2048 -nographic -no-reboot \
		-kernel "$kdir/vmlinux" -initrd "$tmp/initramfs.cpio" \
		-append "console=ttyS0 cgroup_no_v1=all panic=-1 quiet" \
		-virtfs "local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap" \
		-virtfs "local,path=$out,mount_tag=out,security_model=passthrough" \
		-drive "file=$tmp/disk.img,format=raw,if=virtio" \
		</dev/null >"$out/console.log" 2>&1 || rc=$?
	printf '\n==> cgroup v2 VM summary (%s)\n' "$pkg"
	grep -E '^(==> |test result:|[0-9]+ passed, [0-9]+ failed|guest:)|FAIL|panicked' "$out/guest.log" 2>/dev/null || true
	if [[ ! -s $out/guest.rc ]]; then
		printf 'the guest did not finish (qemu exit %d); see %s\n' "$rc" "$out/console.log"
		return 1
	fi
	if [[ $(cat "$out/guest.rc") != 0 ]]; then
		printf 'FAILED: see %s\n' "$out/guest.log"
		return 1
	fi
	printf 'all cgroup v2 tests passed\n'
}

main
