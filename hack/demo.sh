#!/usr/bin/env bash
# Set up the machine, build rt and run a container from the built-in busybox
# bundle in the foreground. No network needed besides the Debian mirror for
# the first setup.
#
#   sudo hack/demo.sh
#
# RT_BINARY=/path/to/runtime runs another runc-compatible binary instead of
# building rt.
set -euo pipefail
# shellcheck source=hack/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need_root "$0"

"$RT_TOP/hack/setup.sh"

if [[ -n ${RT_BINARY-} ]]; then
	rt=$(command -v -- "$RT_BINARY") || die "$RT_BINARY: not found"
else
	log "building the release rt"
	build_release
	rt=$RT_RELEASE
fi

bundle=$RT_TOP/hack/bundles/busybox
id=demo-$$
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	# Normally a no-op: `run` deletes the container when its process exits.
	# The parent cgroup /rt goes too, if nothing else is in it.
	"$rt" delete --force "$id" >/dev/null 2>&1 || true
	remove_cgroup_tree "$(jq -r .linux.cgroupsPath "$bundle/config.json")" 2>/dev/null || true
	rmdir /sys/fs/cgroup/*/rt 2>/dev/null || true
}
trap cleanup EXIT

cd "$bundle"
log "cd ${bundle#"$RT_TOP"/} && ${rt#"$RT_TOP"/} run $id"
code=0
"$rt" run "$id" || code=$?
log "container $id exited with code $code"
exit "$code"
