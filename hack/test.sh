#!/usr/bin/env bash
# Run everything CI runs: machine setup, lints, release build, unit and
# integration tests (as root), the conformance suite, the cgroup tests on
# cgroup v2 in a VM (hack/vm-cgroup2.sh), and podman, containerd and Docker
# running their containers with rt (hack/callers-test.sh).
# Stops at the first failure and prints a summary.
#
#   sudo hack/test.sh
set -euo pipefail
# shellcheck source=hack/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need_root "$0 (the integration tests create containers)"
cd "$RT_TOP"

results=()
summary() {
	printf '\n==> summary\n'
	printf '  %s\n' "${results[@]}"
}

# step NAME COMMAND...: run one step, record its outcome and time.
step() {
	local name=$1 t0=$SECONDS rc=0
	shift
	printf '\n==> %s: %s\n' "$name" "$*"
	"$@" || rc=$?
	if ((rc == 0)); then
		results+=("$(printf '%-12s ok      %4ds' "$name" $((SECONDS - t0)))")
	else
		results+=("$(printf '%-12s FAILED  %4ds  (exit %d: %s)' "$name" $((SECONDS - t0)) "$rc" "$*")")
		summary
		printf 'test.sh: FAILED at step %s\n' "$name"
		exit "$rc"
	fi
}

step setup hack/setup.sh
step shellcheck shellcheck -x hack/*.sh conformance/*.sh .ci/run
find_cargo
step fmt cargo fmt --all --check
step clippy cargo clippy --workspace --all-targets -- -D warnings
step build build_release
step test cargo test --workspace
step conformance conformance/run.sh "$RT_RELEASE"
step cgroup-v2 hack/vm-cgroup2.sh --rt "$RT_RELEASE" --out "$RT_TOP/target/vm-cgroup2"
step callers hack/callers-test.sh "$RT_RELEASE"

summary
printf 'test.sh: all steps OK in %ds\n' "$SECONDS"
