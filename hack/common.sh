# shellcheck shell=bash
# Common helpers for the hack/ scripts. Source it; do not run it.

# Top of the repository (the parent of hack/).
RT_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export RT_TOP

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

need_root() {
	[[ $EUID -eq 0 ]] || die "$1 must run as root (try: sudo $0)"
}

# Make cargo reachable when it is not on PATH, e.g. under sudo (secure_path)
# with rustup installed in the invoking user's home.
find_cargo() {
	command -v cargo >/dev/null 2>&1 && return 0
	local home
	for home in "${HOME:-/root}" "$(getent passwd "${SUDO_USER:-root}" | cut -d: -f6)"; do
		if [[ -n $home && -x $home/.cargo/bin/cargo ]]; then
			export PATH="$home/.cargo/bin:$PATH"
			[[ -n ${CARGO_HOME-} ]] || export CARGO_HOME="$home/.cargo"
			[[ -n ${RUSTUP_HOME-} || ! -d $home/.rustup ]] || export RUSTUP_HOME="$home/.rustup"
			return 0
		fi
	done
	die "cargo not found: install a Rust toolchain with rustup (Debian's cargo is too old for edition 2024)"
}

# Remove the cgroup PARENT (an absolute cgroupsPath such as /rt-bench) and
# everything below it from every hierarchy, deepest first. Only empty cgroups
# can go; one that still has processes is reported and left.
# Never touches anything under process_api (the machine's own cgroups).
remove_cgroup_tree() {
	local parent=${1#/} h d rc=0
	[[ -n $parent && $parent != process_api* && $parent != *..* ]] || die "refusing to remove cgroup '$1'"
	for h in /sys/fs/cgroup/*/; do
		[[ -d $h$parent ]] || continue
		# A plain directory on the /sys/fs/cgroup tmpfs, for a controller that
		# is not mounted (conmon makes those, with a `tasks` file inside).
		if [[ $(stat -f -c %T "$h") == tmpfs ]]; then
			rm -rf -- "$h$parent" || rc=1
			continue
		fi
		while IFS= read -r -d '' d; do
			rmdir -- "$d" 2>/dev/null || { printf 'warning: could not remove cgroup %s\n' "$d" >&2; rc=1; }
		done < <(find "$h$parent" -depth -type d -print0)
	done
	return "$rc"
}

# The release rt that the demo, benchmark and conformance run use: a
# static-pie binary (glibc, still address-randomized) with packed relative
# relocations. Each call then maps no shared library and relocates a few
# KiB instead of ~200 KiB: about 1 MiB less peak memory per call than a
# dynamic build. --target keeps the flags off build scripts and proc macros.
# conformance/run.sh builds its static probe with the same flags, so the two
# builds share target/$RT_TARGET instead of rebuilding each other's deps.
RT_TARGET=x86_64-unknown-linux-gnu
RT_RELEASE=$RT_TOP/target/$RT_TARGET/release/rt
RT_STATIC_RUSTFLAGS="-C target-feature=+crt-static -C link-arg=-Wl,-z,pack-relative-relocs"
export RT_RELEASE

# A static-pie cannot load libseccomp.so: libseccomp-sys links Debian's
# libseccomp.a instead when told where it is.
build_release() {
	find_cargo
	local libdir
	libdir=$(pkg-config --variable=libdir libseccomp) || die "libseccomp-dev not found (hack/setup.sh installs it)"
	(cd "$RT_TOP" && LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=$libdir \
		RUSTFLAGS=$RT_STATIC_RUSTFLAGS cargo build --release -p rt --target "$RT_TARGET")
}
