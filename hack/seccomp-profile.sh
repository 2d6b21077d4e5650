#!/usr/bin/env bash
# Print a docker/podman-like seccomp profile as config.json's linux.seccomp
# takes it (for hack/bench.sh: BENCH_SECCOMP=FILE).
#
#   hack/seccomp-profile.sh [CONFIG_JSON] >profile.json
#
# The source is podman's default profile (/usr/share/containers/seccomp.json
# from containers-common, or $SECCOMP_JSON), in the containers format:
# rules with includes/excludes on capabilities and architectures. Like
# podman, this keeps the rules that apply on x86_64 to a process with
# CONFIG_JSON's bounding capabilities (default: podman's default set) and
# drops the format's extra fields.
set -euo pipefail
# shellcheck source=hack/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

(($# <= 1)) || die "usage: $0 [CONFIG_JSON]"
src=${SECCOMP_JSON:-/usr/share/containers/seccomp.json}
[[ -r $src ]] || die "$src: not readable (apt-get install containers-common, or set SECCOMP_JSON)"
if (($# == 1)); then
	caps=$(jq -c '.process.capabilities.bounding // []' "$1")
else
	caps='["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FOWNER","CAP_FSETID","CAP_KILL","CAP_NET_BIND_SERVICE","CAP_SETFCAP","CAP_SETGID","CAP_SETPCAP","CAP_SETUID","CAP_SYS_CHROOT"]'
fi
jq --argjson caps "$caps" '
	def applies:
		((.includes.caps // []) - $caps | length == 0)
		and ((.includes.arches // ["amd64"]) | index("amd64") != null)
		and ((.excludes.caps // []) - ((.excludes.caps // []) - $caps) | length == 0)
		and ((.excludes.arches // []) | index("amd64") == null);
	{
		defaultAction,
		defaultErrnoRet,
		architectures: ([.archMap[] | select(.architecture == "SCMP_ARCH_X86_64")
			| .architecture, .subArchitectures[]]),
		syscalls: [.syscalls[] | select(applies)
			| {names, action} + (if .args then {args} else {} end)
				+ (if .errnoRet then {errnoRet} else {} end)]
	} | with_entries(select(.value != null))' "$src"
