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
		while IFS= read -r -d '' d; do
			rmdir -- "$d" 2>/dev/null || { printf 'warning: could not remove cgroup %s\n' "$d" >&2; rc=1; }
		done < <(find "$h$parent" -depth -type d -print0)
	done
	return "$rc"
}
