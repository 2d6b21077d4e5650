#!/usr/bin/env bash
# Set up a Debian 12 machine for building, testing and benchmarking rt, then
# build the default busybox bundle at hack/bundles/busybox.
# Idempotent: when everything is there it installs nothing and takes well
# under a second. Needs no network besides the Debian mirror (apt).
set -euo pipefail
# shellcheck source=hack/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# Debian packages: build deps, the reference runtimes, the bundle's busybox,
# benchmark and test tools. (mount provides mount(8); util-linux unshare.)
packages=(
	gcc libc6-dev pkg-config libseccomp-dev # libc6-dev: libc.a for tests/seccomp.rs' static helper
	busybox-static
	runc crun
	jq hyperfine time
	iproute2 util-linux mount
	shellcheck
	docker-registry skopeo apache2-utils openssl umoci # rt-bundle's tests and hack/bench-bundle.sh
	podman containerd docker.io # hack/callers-test.sh
	qemu-system-x86 xz-utils # hack/vm-cgroup2.sh (cgroup v2 tests in a VM)
)

missing=()
for p in "${packages[@]}"; do
	if [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true) != "ii " ]]; then
		missing+=("$p")
	fi
done

if ((${#missing[@]})); then
	need_root "installing ${missing[*]}"
	log "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The default bundle. Rebuilt only when busybox, runc (whose `runc spec` is
# the template) or mkbundle.sh changed, so that a bundle in use by a running
# container is not pulled from under it.
bundle=$RT_TOP/hack/bundles/busybox
stamp=$RT_TOP/hack/bundles/.busybox.stamp
want=$(
	sha256sum /bin/busybox "$RT_TOP/hack/mkbundle.sh" | cut -d' ' -f1
	runc --version | head -n1
)
if [[ ! -f $bundle/config.json || ! -x $bundle/rootfs/bin/busybox || ! -f $stamp || $(<"$stamp") != "$want" ]]; then
	log "building the busybox bundle at ${bundle#"$RT_TOP"/}"
	"$RT_TOP/hack/mkbundle.sh" "$bundle"
	printf '%s\n' "$want" >"$stamp"
fi

log "setup done"
