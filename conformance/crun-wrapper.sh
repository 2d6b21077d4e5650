#!/usr/bin/env bash
# crun as a runtime for the conformance suite: `crun-wrapper.sh ARGS...` runs
# `crun ARGS...` in a private mount namespace where the unified cgroup
# hierarchy shows no controllers. crun 1.8 refuses hybrid hosts whose cgroup2
# holds a controller (hugetlb here, see shared/HOST.md); it then treats the
# host as cgroup v1.
set -euo pipefail
crun=${CRUN:-/usr/bin/crun}
controllers=/sys/fs/cgroup/unified/cgroup.controllers

if [[ ! -e $controllers ]]; then
	exec "$crun" "$@"
fi
empty=$(mktemp "${TMPDIR:-/tmp}/crun-wrapper.XXXXXX")
# Inside: bind the empty file over cgroup.controllers, then unlink it (the
# mount keeps it alive) so nothing is left behind once crun exits.
# shellcheck disable=SC2016 # expanded by the inner shell
exec unshare -m --propagation private -- sh -c '
	mount --bind "$1" '"$controllers"' || { rm -f "$1"; exit 125; }
	rm -f "$1"
	crun=$2
	shift 2
	exec "$crun" "$@"' sh "$empty" "$crun" "$@"
