#!/usr/bin/env bash
# One benchmark iteration, used by hack/bench.sh:
#
#   hack/bench-once.sh [--mask EMPTY] [--rss DIR] RUNTIME ROOT ID BUNDLE
#       RUNTIME --root ROOT create --bundle BUNDLE ID; start ID; state ID
#       until "stopped"; delete ID. RUNTIME is any runc-compatible binary.
#   hack/bench-once.sh [--mask EMPTY] --noop
#       nothing: measures the cost of this script and of the wrapper.
#   hack/bench-once.sh [--mask EMPTY] --clean RUNTIME ROOT
#       delete --force every container under ROOT.
#
# --mask EMPTY: first re-run this script inside a private mount namespace
#   (unshare -m --propagation private) where the empty file EMPTY is bind-mounted
#   over /sys/fs/cgroup/unified/cgroup.controllers, so that crun 1.8 accepts
#   this hybrid-cgroup host (see shared/HOST.md).
# --rss DIR: run each runtime call under /usr/bin/time -f %M and append its
#   max RSS (KiB) to DIR/create, DIR/start, DIR/state, DIR/delete.
set -euo pipefail

die() { printf 'bench-once: %s\n' "$*" >&2; exit 1; }

if [[ ${1-} == --mask ]]; then
	(($# >= 2)) || die "--mask needs a file"
	mask=$2
	shift 2
	exec unshare -m --propagation private -- "$0" --in-ns "$mask" "$@"
fi
if [[ ${1-} == --in-ns ]]; then
	mount --bind -- "$2" /sys/fs/cgroup/unified/cgroup.controllers
	shift 2
fi

rss=
if [[ ${1-} == --rss ]]; then
	(($# >= 2)) || die "--rss needs a directory"
	rss=$2
	shift 2
fi

# call NAME RUNTIME ARGS...: run one runtime call, maybe measuring its max RSS.
call() {
	local name=$1
	shift
	if [[ -n $rss ]]; then
		/usr/bin/time -f %M -a -o "$rss/$name" -- "$@"
	else
		"$@"
	fi
}

case ${1-} in
--noop)
	exit 0
	;;
--clean)
	(($# == 3)) || die "usage: $0 [--mask EMPTY] --clean RUNTIME ROOT"
	r=$2 root=$3
	[[ -d $root ]] || exit 0
	"$r" --root "$root" list -q 2>/dev/null | while IFS= read -r id; do
		[[ -z $id ]] || "$r" --root "$root" delete --force "$id" || true
	done
	exit 0
	;;
esac

(($# == 4)) || die "usage: $0 [--mask EMPTY] [--rss DIR] RUNTIME ROOT ID BUNDLE"
r=$1 root=$2 id=$3 bundle=$4

call create "$r" --root "$root" create --bundle "$bundle" "$id"
if ! call start "$r" --root "$root" start "$id"; then
	"$r" --root "$root" delete --force "$id" || true
	die "start failed"
fi
# Wait until the container's process has exited: runc and crun delete a
# `created` or `running` container without --force, rt does not (runtime.md).
# Only the first state call is measured for RSS.
status=
for ((i = 0; i < 5000; i++)); do
	if ((i == 0)); then
		out=$(call state "$r" --root "$root" state "$id")
	else
		out=$("$r" --root "$root" state "$id")
	fi
	[[ $out =~ \"status\":[[:space:]]*\"([a-z]+)\" ]] || die "cannot parse state: $out"
	status=${BASH_REMATCH[1]}
	[[ $status == stopped ]] && break
done
if [[ $status != stopped ]]; then
	"$r" --root "$root" delete --force "$id" || true
	die "container $id still $status after $i state calls"
fi
call delete "$r" --root "$root" delete "$id"
