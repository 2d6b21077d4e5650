#!/usr/bin/env bash
# Run the conformance suite against a runc-compatible runtime (as root).
#
#   conformance/run.sh RUNTIME_PATH [FILTER]
#   conformance/run.sh --crun [FILTER]     crun through conformance/crun-wrapper.sh
#   conformance/run.sh --table             rt, runc and crun; prints the README table
#
# Builds the probe (statically linked, it runs inside every container) and the
# runner, then runs every case whose name contains FILTER (comma-separated
# alternatives). The last line is `N passed, M failed[, K skipped]`; the exit
# status is non-zero when a case failed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$here")
# shellcheck source=hack/common.sh
source "$top/hack/common.sh"

usage() { die "usage: $0 RUNTIME_PATH [FILTER] | --crun [FILTER] | --table"; }
(($# >= 1)) || usage
need_root "$0 (the cases create containers)"
find_cargo
cd "$top"

target=x86_64-unknown-linux-gnu
probe=$top/target/$target/release/probe
runner=$top/target/debug/runner

build() {
	log "building the probe (static) and the runner"
	# --target keeps RUSTFLAGS off build scripts and out of target/release.
	# The same flags as hack/common.sh's release rt, so the builds share deps.
	RUSTFLAGS="-C target-feature=+crt-static -C link-arg=-Wl,-z,pack-relative-relocs" \
		cargo build --quiet --release -p rt-conformance --bin probe --target "$target"
	cargo build --quiet -p rt-conformance --bin runner
	# ldd says "statically linked" (static-pie) or "not a dynamic executable".
	if ! ldd "$probe" 2>&1 | grep -q -e 'statically linked' -e 'not a dynamic executable'; then
		die "$probe is dynamically linked; it cannot run in a busybox rootfs"
	fi
}

case $1 in
--table)
	build
	rt=target/$target/release/rt
	[[ -x $rt ]] || build_release
	out=$(mktemp -d "${TMPDIR:-/tmp}/rt-conformance-table.XXXXXX")
	trap 'rm -rf -- "$out"' EXIT
	for r in runc:/usr/sbin/runc crun:"$here/crun-wrapper.sh" rt:"$rt"; do
		log "running the suite against ${r#*:}"
		"$runner" --probe "$probe" --results "$out/${r%%:*}" "${r#*:}" >&2 || true
	done
	"$runner" --table "runc=$out/runc" "crun=$out/crun" "rt=$out/rt"
	;;
--crun)
	build
	shift
	exec "$runner" --probe "$probe" "$here/crun-wrapper.sh" "$@"
	;;
*)
	build
	exec "$runner" --probe "$probe" "$@"
	;;
esac
