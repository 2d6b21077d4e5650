#!/usr/bin/env bash
# Drive a runtime through its real callers, podman (conmon), containerd
# (ctr + the runc v2 shim) and Docker (dockerd, its own containerd and the
# same shim), and check what a user sees.
#
#   hack/callers-test.sh [RUNTIME_PATH]     (default: the release rt)
#   hack/callers-test.sh /usr/sbin/runc     (the reference, for comparison)
#
# Needs root, podman, conmon, containerd, ctr and docker.io (hack/setup.sh
# installs them). No network: the busybox image is made from busybox-static.
# Everything lives in a temp dir removed at the end; containers go under the
# cgroup parent /rt-callers-$$, removed at the end. dockerd is started by hand
# with its data, exec root, sockets and config file in the temp dir, no bridge
# and no iptables; it is stopped (with its containerd and shims) at the end.
#
# Every runtime call goes through a wrapper that logs its argv (and a copy of
# any --process file and the bundle's config.json) to $T/trace.log.
# CALLERS_KEEP=1 keeps the temp dir for reading that log, the runtimes'
# --log files and podman's/containerd's logs.
# CALLERS_ONLY=podman|containerd|docker runs one part.
#
# Prints `ok NAME` or `FAIL NAME: details` per check, then `N passed, M failed`;
# exits non-zero when a check failed.
set -uo pipefail
# shellcheck source=hack/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need_root "callers-test.sh"

RUNTIME=${1:-$RT_RELEASE}
RUNTIME=$(readlink -f -- "$RUNTIME") || die "no runtime at ${1:-$RT_RELEASE}"
[[ -x $RUNTIME ]] || die "$RUNTIME is not executable (build rt with: source hack/common.sh && build_release)"
# Debian's docker client: another one earlier on PATH may not match dockerd 20.10.
DOCKER=/usr/bin/docker
for c in podman conmon containerd ctr containerd-shim-runc-v2 script dockerd "$DOCKER"; do
	command -v "$c" >/dev/null || die "$c not found (run hack/setup.sh)"
done
[[ -x /bin/busybox ]] || die "/bin/busybox not found (busybox-static; run hack/setup.sh)"

T=$(mktemp -d /tmp/rt-callers.XXXXXX)
# A user-namespaced container's root (host uid 100000) must reach its rootfs
# below $T.
chmod 711 "$T"
CG=/rt-callers-$$
NS=rt-callers-$$
CTRD_PID=
DOCKERD_PID=
IMG=docker.io/library/busybox:callers
TO=${CALLERS_TIMEOUT:-60}
pass=0 fail=0
# The shims' sockets go to /run/containerd/s whatever the config says (and
# their cleanup makes /run/containerd/runc/NS):
# remove those directories at the end if they were not there before and are empty.
RUN_CTRD_EXISTED=
[[ -e /run/containerd ]] && RUN_CTRD_EXISTED=1
# conmon makes directories on the /sys/fs/cgroup tmpfs for controllers that
# are not mounted: those that were not there before are removed at the end.
CG_TOP_BEFORE=$(echo /sys/fs/cgroup/*)
# dockerd makes /run/docker/plugins whatever its exec root.
RUN_DOCKER_EXISTED=
[[ -e /run/docker ]] && RUN_DOCKER_EXISTED=1

# stop_pid PID SECONDS: SIGTERM, wait up to SECONDS, then SIGKILL (a
# process this script started).
stop_pid() {
	local pid=$1 secs=$2 i
	kill "$pid" 2>/dev/null || return 0
	for ((i = 0; i < secs * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
}

# PIDs whose command line contains STRING: the shims of our own containerd
# or dockerd, found by the socket path in the temp dir they were given.
pids_with_arg() {
	local f cmd
	for f in /proc/[0-9]*/cmdline; do
		{ cmd=$(tr '\0' ' ' <"$f"); } 2>/dev/null || continue
		[[ $cmd == *"$1"* ]] || continue
		f=${f#/proc/}
		printf '%s\n' "${f%/cmdline}"
	done
}

stop_dockerd() {
	local ids pid
	ids=$(timeout 20 "${DK[@]}" ps -aq 2>/dev/null)
	# shellcheck disable=SC2086 # one word per id
	[[ -z $ids ]] || timeout 60 "${DK[@]}" rm -f $ids >/dev/null 2>&1
	# dockerd stops its containerd when it stops
	stop_pid "$DOCKERD_PID" 30
	wait "$DOCKERD_PID" 2>/dev/null
	pid=$(cat "$T/docker/exec/containerd/containerd.pid" 2>/dev/null) && [[ -n $pid ]] && stop_pid "$pid" 10
	for pid in $(pids_with_arg "$T/docker/exec/containerd/containerd.sock"); do
		kill -KILL "$pid" 2>/dev/null
	done
	[[ -n $RUN_DOCKER_EXISTED ]] || rmdir /run/docker/plugins /run/docker 2>/dev/null
}
# podman runs the runtime with its default root, where rt caches compiled
# seccomp filters: remove the cache at the end if it was not there before.
RT_CACHE=/run/rt/.@seccomp-cache
RT_CACHE_EXISTED=
[[ -e $RT_CACHE ]] && RT_CACHE_EXISTED=1

cleanup() {
	set +e
	if [[ -n ${PODMAN_READY-} ]]; then
		timeout 60 "${P[@]}" rm -af -t 0 >/dev/null 2>&1
		timeout 60 "${P[@]}" rmi -af >/dev/null 2>&1
	fi
	if [[ -n $CTRD_PID ]]; then
		local id
		for id in $("${C[@]}" task ls -q 2>/dev/null); do
			timeout 20 "${C[@]}" task kill -s KILL "$id" >/dev/null 2>&1
			sleep 0.2
			timeout 20 "${C[@]}" task delete -f "$id" >/dev/null 2>&1
		done
		for id in $("${C[@]}" container ls -q 2>/dev/null); do
			timeout 20 "${C[@]}" container delete "$id" >/dev/null 2>&1
		done
		kill "$CTRD_PID" 2>/dev/null
		wait "$CTRD_PID" 2>/dev/null
		# the shim's cleanup makes /run/containerd/runc/NS even with --runc-root
		rmdir "/run/containerd/runc/$NS" 2>/dev/null
	fi
	[[ -z $DOCKERD_PID ]] || stop_dockerd
	[[ -n $RUN_CTRD_EXISTED ]] || rmdir /run/containerd/runc /run/containerd/s /run/containerd 2>/dev/null
	# Unmount what podman's and containerd's storage left mounted under $T.
	local m
	findmnt -rn -o TARGET | grep -F -- "$T/" | sort -r | while IFS= read -r m; do
		umount -l -- "$m"
	done
	remove_cgroup_tree "$CG" || true
	# Controller directories conmon made on the /sys/fs/cgroup tmpfs.
	local top
	for top in /sys/fs/cgroup/*/; do
		top=${top%/}
		[[ " $CG_TOP_BEFORE " == *" $top "* || $(stat -f -c %T "$top") != tmpfs ]] || rmdir -- "$top" 2>/dev/null
	done
	[[ -n $RT_CACHE_EXISTED ]] || rm -rf -- "$RT_CACHE"
	if [[ -n ${CALLERS_KEEP-} ]]; then
		log "kept $T"
	else
		rm -rf --one-file-system -- "$T"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() { printf 'ok %s\n' "$1"; pass=$((pass + 1)); }
bad() { printf 'FAIL %s: %s\n' "$1" "$2"; fail=$((fail + 1)); }
# one line, at most 300 characters, of a command's output
short() { tr '\r\n' '  ' <<<"$1" | cut -c1-300; }

# run CMD... with a timeout; sets $out (stdout+stderr) and $rc
call() {
	out=$(timeout "$TO" "$@" 2>&1)
	rc=$?
}
# call in a pseudo-terminal (script(1)), for -t
call_tty() {
	local cmd
	printf -v cmd '%q ' "$@"
	out=$(timeout "$TO" script -qec "$cmd" /dev/null </dev/null 2>&1)
	rc=$?
	out=${out//$'\r'/}
}
# expect NAME WANT-RC WANT-OUTPUT-REGEX CMD...
expect() {
	local name=$1 wrc=$2 wre=$3
	shift 3
	call "$@"
	check "$name" "$wrc" "$wre"
}
check() {
	local name=$1 wrc=$2 wre=$3
	if [[ $rc -ne $wrc ]]; then
		bad "$name" "exit $rc, want $wrc; output: $(short "$out")"
	elif [[ -n $wre && ! $out =~ $wre ]]; then
		bad "$name" "output does not match /$wre/: $(short "$out")"
	else
		ok "$name"
	fi
}
# wait_for NAME SECONDS REGEX CMD...: poll CMD until its output matches
wait_for() {
	local name=$1 secs=$2 re=$3 i
	shift 3
	for ((i = 0; i < secs * 5; i++)); do
		call "$@"
		[[ $out =~ $re ]] && { ok "$name"; return 0; }
		sleep 0.2
	done
	bad "$name" "after ${secs}s output does not match /$re/: $(short "$out")"
	return 1
}

# The runtime, behind a wrapper with the same base name (podman decides
# from the name whether a runtime speaks --log-format=json). conmon gives no
# --root: the wrapper adds one in the temp dir, so that no default root
# (/run/rt, /run/runc) is left behind; containerd and dockerd give their own.
mkdir -p "$T/bin"
WRAP=$T/bin/$(basename "$RUNTIME")
cat >"$WRAP" <<EOF
#!/bin/sh
{
	printf '%s [%s] %s\n' "\$(date +%T.%N)" "\$\$" "\$*"
	prev=
	for a in "\$@"; do
		if [ "\$prev" = --process ]; then printf '    process: '; tr -d '\n' <"\$a"; echo; fi
		if [ "\$prev" = --bundle ]; then printf '    config: '; tr -d '\n' <"\$a/config.json"; echo; fi
		prev=\$a
	done
} >>"$T/trace.log" 2>&1
case " \$* " in
*" --root "* | *" --root="*) exec "$RUNTIME" "\$@" ;;
*) exec "$RUNTIME" --root "$T/runtime-root" "\$@" ;;
esac
EOF
chmod +x "$WRAP"
log "runtime: $RUNTIME ($("$RUNTIME" --version 2>&1 | head -n1)); temp dir $T"

# The image: busybox-static with its applet links.
R=$T/rootfs
mkdir -p "$R"/{bin,etc,proc,sys,dev,tmp,root}
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list); do
	[[ $a == busybox ]] || ln -s busybox "$R/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$R/etc/group"
tar -C "$R" -cf "$T/rootfs.tar" .

################################################################ podman
podman_tests() {
	mkdir -p "$T/podman"/{root,runroot,tmp,net}
	cat >"$T/podman/containers.conf" <<-EOF
		[engine]
		cgroup_manager = "cgroupfs"
		events_logger = "file"
		events_logfile_path = "$T/podman/events.log"
		runtime_supports_json = ["crun", "runc", "rt", "kata", "runsc", "youki", "krun"]
		[network]
		network_config_dir = "$T/podman/net"
	EOF
	cat >"$T/podman/storage.conf" <<-EOF
		[storage]
		driver = "overlay"
		graphroot = "$T/podman/root"
		runroot = "$T/podman/runroot"
	EOF
	export CONTAINERS_CONF=$T/podman/containers.conf CONTAINERS_STORAGE_CONF=$T/podman/storage.conf
	P=(podman --root "$T/podman/root" --runroot "$T/podman/runroot" --tmpdir "$T/podman/tmp"
		--network-config-dir "$T/podman/net" --cgroup-manager cgroupfs --events-backend file
		--runtime "$WRAP")
	# run/create flags
	RF=(--ulimit nofile=20000:20000 --ulimit nproc=32768:32768 --cgroup-parent "$CG" --network none)
	PODMAN_READY=1

	call "${P[@]}" import "$T/rootfs.tar" "$IMG"
	[[ $rc -eq 0 ]] || { bad podman-import "exit $rc: $(short "$out")"; return; }
	ok podman-import

	expect podman-run-echo 0 '^hi$' "${P[@]}" run --rm "${RF[@]}" "$IMG" echo hi
	expect podman-run-exit-status 3 '' "${P[@]}" run --rm "${RF[@]}" "$IMG" sh -c 'exit 3'
	call "${P[@]}" run --rm -i "${RF[@]}" "$IMG" cat <<<"from stdin"
	check podman-run-stdin 0 '^from stdin$'
	expect podman-run-user 0 '^uid=65534\(nobody\) gid=65534' "${P[@]}" run --rm --user 65534:65534 "${RF[@]}" "$IMG" id
	call_tty "${P[@]}" run --rm -t "${RF[@]}" "$IMG" tty
	check podman-run-tty 0 '^/dev/pts/0'
	expect podman-run-missing-cmd 127 'nosuchcmd' "${P[@]}" run --rm "${RF[@]}" "$IMG" nosuchcmd
	expect podman-run-not-executable 126 '' "${P[@]}" run --rm "${RF[@]}" "$IMG" /etc/passwd
	expect podman-run-ulimit 0 '^20000$' "${P[@]}" run --rm "${RF[@]}" "$IMG" sh -c 'ulimit -n'
	expect podman-run-memory 0 '^67108864$' "${P[@]}" run --rm --memory 64m "${RF[@]}" "$IMG" \
		cat /sys/fs/cgroup/memory/memory.limit_in_bytes
	expect podman-run-pids-limit 0 '^33$' "${P[@]}" run --rm --pids-limit 33 "${RF[@]}" "$IMG" cat /sys/fs/cgroup/pids/pids.max
	expect podman-run-cap-drop 0 'CapEff:.0000000000000000' "${P[@]}" run --rm --cap-drop all "${RF[@]}" "$IMG" \
		grep CapEff /proc/self/status
	expect podman-run-privileged 0 'kmsg' "${P[@]}" run --rm --privileged "${RF[@]}" "$IMG" ls /dev
	expect podman-run-read-only 1 'Read-only file system' "${P[@]}" run --rm --read-only "${RF[@]}" "$IMG" touch /x
	mkdir -p "$T/vol"
	call "${P[@]}" run --rm -v "$T/vol:/vol" "${RF[@]}" "$IMG" sh -c 'echo v >/vol/f && cat /vol/f'
	check podman-run-volume 0 '^v$'
	if [[ $(cat "$T/vol/f" 2>/dev/null) == v ]]; then ok podman-run-volume-host; else bad podman-run-volume-host "no $T/vol/f"; fi
	# podman adds the tmpcopyup extension (runc, crun) to tmpfs mounts
	expect podman-run-tmpfs 0 '^s$' "${P[@]}" run --rm --tmpfs /scratch "${RF[@]}" "$IMG" sh -c 'echo s >/scratch/f && cat /scratch/f'
	expect podman-run-hostname-sysctl 0 $'^box\n4096$' "${P[@]}" run --rm --hostname box --sysctl kernel.msgmax=4096 \
		"${RF[@]}" "$IMG" sh -c 'hostname && cat /proc/sys/kernel/msgmax'
	expect podman-run-userns 0 '^ +0 +100000 +65536$' "${P[@]}" run --rm --uidmap 0:100000:65536 --gidmap 0:100000:65536 \
		"${RF[@]}" "$IMG" cat /proc/self/uid_map

	expect podman-run-detach 0 '^[0-9a-f]{64}$' "${P[@]}" run -d --name c1 "${RF[@]}" "$IMG" sleep 1000
	expect podman-state-running 0 '^running$' "${P[@]}" inspect -f '{{.State.Status}}' c1
	expect podman-exec 0 '^hi$' "${P[@]}" exec c1 echo hi
	expect podman-exec-exit-status 4 '' "${P[@]}" exec c1 sh -c 'exit 4'
	call "${P[@]}" exec -i c1 cat <<<"exec stdin"
	check podman-exec-stdin 0 '^exec stdin$'
	call_tty "${P[@]}" exec -t c1 tty
	check podman-exec-tty 0 '^/dev/pts/[0-9]+'
	# shellcheck disable=SC2016 # expanded in the container
	expect podman-exec-user-env-workdir 0 '^65534 /tmp bar$' "${P[@]}" exec -u 65534 -w /tmp -e FOO=bar c1 \
		sh -c 'echo $(id -u) $PWD $FOO'
	expect podman-update 0 '' "${P[@]}" update --memory 128m c1
	expect podman-update-applied 0 '^134217728$' "${P[@]}" exec c1 cat /sys/fs/cgroup/memory/memory.limit_in_bytes
	expect podman-stats 0 'c1' "${P[@]}" stats --no-stream --format '{{.Name}} {{.MemUsage}}' c1
	expect podman-exec-detach 0 '' "${P[@]}" exec -d c1 sleep 77
	expect podman-top 0 'sleep 1000' "${P[@]}" top c1
	expect podman-pause 0 '' "${P[@]}" pause c1
	expect podman-state-paused 0 '^paused$' "${P[@]}" inspect -f '{{.State.Status}}' c1
	expect podman-unpause 0 '' "${P[@]}" unpause c1
	expect podman-state-unpaused 0 '^running$' "${P[@]}" inspect -f '{{.State.Status}}' c1
	expect podman-kill 0 '' "${P[@]}" kill c1
	wait_for podman-state-killed 10 '^exited 137$' "${P[@]}" inspect -f '{{.State.Status}} {{.State.ExitCode}}' c1

	expect podman-run-detach-2 0 '^[0-9a-f]{64}$' "${P[@]}" run -d --name c2 "${RF[@]}" "$IMG" sleep 1000
	expect podman-stop 0 '' "${P[@]}" stop -t 1 c2
	expect podman-state-stopped 0 '^exited' "${P[@]}" inspect -f '{{.State.Status}}' c2
	expect podman-restart 0 '' "${P[@]}" start c2
	expect podman-state-restarted 0 '^running$' "${P[@]}" inspect -f '{{.State.Status}}' c2
	# SIGTERM reaches a handler; stop does not need its SIGKILL
	expect podman-run-detach-3 0 '' "${P[@]}" run -d --name c3 "${RF[@]}" "$IMG" \
		sh -c 'trap "exit 5" TERM; while :; do sleep 0.1; done'
	expect podman-stop-term 0 '' "${P[@]}" stop -t 20 c3
	expect podman-stop-term-exit-code 0 '^5$' "${P[@]}" inspect -f '{{.State.ExitCode}}' c3
	expect podman-exec-stopped-fails 255 'can only create exec sessions on running containers' "${P[@]}" exec c3 true
	expect podman-rm 0 '' "${P[@]}" rm -f -t 0 c1 c2 c3
	call "${P[@]}" ps -a --format '{{.Names}}'
	if [[ $rc -eq 0 && -z $out ]]; then ok podman-ps-empty; else bad podman-ps-empty "exit $rc: $(short "$out")"; fi
}

################################################################ containerd
containerd_tests() {
	local D=$T/containerd
	mkdir -p "$D"/{root,state,opt,runc,fifo}
	cat >"$D/config.toml" <<-EOF
		version = 2
		root = "$D/root"
		state = "$D/state"
		disabled_plugins = ["io.containerd.grpc.v1.cri"]
		[grpc]
		  address = "$D/containerd.sock"
		[ttrpc]
		  address = "$D/containerd.sock.ttrpc"
		[debug]
		  address = ""
		[metrics]
		  address = ""
		[plugins."io.containerd.internal.v1.opt"]
		  path = "$D/opt"
	EOF
	# ctr 1.6 run --uidmap sends task options that replace the runtime
	# options, --runc-binary included: the shim then runs "runc" from its
	# PATH, which leads to the runtime under test too.
	mkdir -p "$T/ctr-bin"
	ln -s "$WRAP" "$T/ctr-bin/runc"
	PATH=$T/ctr-bin:$PATH containerd --config "$D/config.toml" >"$D/containerd.log" 2>&1 &
	CTRD_PID=$!
	C=(ctr --address "$D/containerd.sock" --namespace "$NS")
	local i
	for ((i = 0; i < 100; i++)); do
		"${C[@]}" version >/dev/null 2>&1 && break
		sleep 0.1
	done
	"${C[@]}" version >/dev/null 2>&1 || { bad containerd-start "$(tail -n 5 "$D/containerd.log")"; return; }
	ok containerd-start

	# A docker archive with a fully qualified name, made by podman (its own
	# storage; no runtime involved).
	call podman --root "$T/podman-img/root" --runroot "$T/podman-img/runroot" --tmpdir "$T/podman-img/tmp" \
		--storage-driver vfs import "$T/rootfs.tar" "$IMG"
	call podman --root "$T/podman-img/root" --runroot "$T/podman-img/runroot" --tmpdir "$T/podman-img/tmp" \
		--storage-driver vfs save --format docker-archive -o "$T/busybox-docker.tar" "$IMG"
	[[ $rc -eq 0 ]] || { bad ctr-image-import "podman save: exit $rc: $(short "$out")"; return; }
	expect ctr-image-import 0 '' "${C[@]}" image import "$T/busybox-docker.tar"

	CR=(--runc-binary "$WRAP" --runc-root "$D/runc" --fifo-dir "$D/fifo")
	expect ctr-run-echo 0 '^hi$' "${C[@]}" run --rm "${CR[@]}" --cgroup "$CG/r1" "$IMG" r1 echo hi
	expect ctr-run-exit-status 3 '' "${C[@]}" run --rm "${CR[@]}" --cgroup "$CG/r2" "$IMG" r2 sh -c 'exit 3'
	call_tty "${C[@]}" run --rm -t "${CR[@]}" --cgroup "$CG/r3" "$IMG" r3 tty
	check ctr-run-tty 0 '/dev/pts/0'
	expect ctr-run-memory 0 '^67108864$' "${C[@]}" run --rm "${CR[@]}" --cgroup "$CG/r4" --memory-limit 67108864 \
		--mount type=bind,src=/sys/fs/cgroup/memory,dst=/cg,options=rbind:ro "$IMG" r4 cat "/cg$CG/r4/memory.limit_in_bytes"
	expect ctr-run-privileged 0 'kmsg' "${C[@]}" run --rm "${CR[@]}" --cgroup "$CG/r5" --privileged "$IMG" r5 ls /dev
	expect ctr-run-userns 0 '^ +0 +100000 +65536$' "${C[@]}" run --rm "${CR[@]}" --cgroup "$CG/r6" \
		--uidmap 0:100000:65536 --gidmap 0:100000:65536 "$IMG" r6 cat /proc/self/uid_map
	if grep -q " create --bundle .*/r6 .* r6\$" "$T/trace.log"; then ok ctr-run-userns-runtime; else bad ctr-run-userns-runtime "the shim did not create r6 with the runtime under test"; fi
	expect ctr-run-missing-cmd 1 'nosuchcmd' "${C[@]}" run --rm "${CR[@]}" --cgroup "$CG/r7" "$IMG" r7 nosuchcmd
	"${C[@]}" container delete r7 >/dev/null 2>&1

	expect ctr-run-detach 0 '' "${C[@]}" run -d "${CR[@]}" --cgroup "$CG/c1" "$IMG" c1 sleep 1000
	wait_for ctr-task-running 10 'c1 +[0-9]+ +RUNNING' "${C[@]}" task ls
	expect ctr-exec 0 '^hi$' "${C[@]}" task exec --fifo-dir "$D/fifo" --exec-id x1 c1 echo hi
	expect ctr-exec-exit-status 4 '' "${C[@]}" task exec --fifo-dir "$D/fifo" --exec-id x2 c1 sh -c 'exit 4'
	call_tty "${C[@]}" task exec --fifo-dir "$D/fifo" -t --exec-id x3 c1 tty
	check ctr-exec-tty 0 '/dev/pts/[0-9]+'
	expect ctr-task-ps 0 '[0-9]+' "${C[@]}" task ps c1
	expect ctr-task-metrics 0 'memory' "${C[@]}" task metrics c1
	expect ctr-pause 0 '' "${C[@]}" task pause c1
	wait_for ctr-task-paused 5 'c1 +[0-9]+ +PAUSED' "${C[@]}" task ls
	expect ctr-resume 0 '' "${C[@]}" task resume c1
	wait_for ctr-task-resumed 5 'c1 +[0-9]+ +RUNNING' "${C[@]}" task ls
	expect ctr-kill 0 '' "${C[@]}" task kill -s KILL c1
	wait_for ctr-task-stopped 10 'c1 +[0-9]+ +STOPPED' "${C[@]}" task ls
	expect ctr-task-delete 0 '' "${C[@]}" task delete c1
	expect ctr-container-delete 0 '' "${C[@]}" container delete c1

	# kill --all and delete --force of a running task
	expect ctr-run-detach-2 0 '' "${C[@]}" run -d "${CR[@]}" --cgroup "$CG/c2" "$IMG" c2 sleep 1000
	wait_for ctr-task-running-2 10 'c2 +[0-9]+ +RUNNING' "${C[@]}" task ls
	expect ctr-exec-detach 0 '' "${C[@]}" task exec --fifo-dir "$D/fifo" -d --exec-id x4 c2 sleep 1000
	expect ctr-kill-all 0 '' "${C[@]}" task kill -a -s KILL c2
	wait_for ctr-task-stopped-2 10 'c2 +[0-9]+ +STOPPED' "${C[@]}" task ls
	expect ctr-task-delete-2 0 '' "${C[@]}" task delete c2
	expect ctr-run-detach-3 0 '' "${C[@]}" run -d "${CR[@]}" --cgroup "$CG/c3" "$IMG" c3 sleep 1000
	expect ctr-task-delete-force 0 '' "${C[@]}" task delete -f c3
	"${C[@]}" container delete c2 c3 >/dev/null 2>&1
	call "${C[@]}" task ls -q
	if [[ $rc -eq 0 && -z $out ]]; then ok ctr-task-ls-empty; else bad ctr-task-ls-empty "exit $rc: $(short "$out")"; fi
}

################################################################ docker
docker_tests() {
	local D=$T/docker i
	mkdir -p "$D"
	# A runtime from daemon.json survives a config reload (SIGHUP); one from
	# --add-runtime does not. --config-file keeps /etc/docker/daemon.json out,
	# and "deprecated-key-path" the identity key that dockerd 20.10 would
	# otherwise create as /etc/docker/key.json.
	printf '{"runtimes": {"rt": {"path": "%s"}}, "deprecated-key-path": "%s"}\n' "$WRAP" "$D/key.json" >"$D/daemon.json"
	dockerd --config-file "$D/daemon.json" --data-root "$D/data" --exec-root "$D/exec" \
		--pidfile "$D/dockerd.pid" -H "unix://$D/docker.sock" --cgroup-parent "$CG" \
		--iptables=false --ip-masq=false --bridge=none >"$D/dockerd.log" 2>&1 &
	DOCKERD_PID=$!
	DK=(env DOCKER_HOST="unix://$D/docker.sock" DOCKER_CONFIG="$D/client" "$DOCKER")
	for ((i = 0; i < 150; i++)); do
		"${DK[@]}" version >/dev/null 2>&1 && break
		sleep 0.1
	done
	"${DK[@]}" version >/dev/null 2>&1 || { bad docker-start "$(tail -n 5 "$D/dockerd.log")"; return; }
	ok docker-start
	# the runtime's own view: dockerd 20.10 gives every runtime the root
	# runtime-runc/moby
	local RS=(timeout "$TO" "$RUNTIME" --root "$D/exec/runtime-runc/moby")

	expect docker-import 0 '^sha256:' "${DK[@]}" import "$T/rootfs.tar" "$IMG"
	DF=(--runtime rt --network none)
	expect docker-run-echo 0 '^hi$' "${DK[@]}" run --rm "${DF[@]}" "$IMG" echo hi
	expect docker-run-exit-status 3 '' "${DK[@]}" run --rm "${DF[@]}" "$IMG" sh -c 'exit 3'
	call "${DK[@]}" run --rm -i "${DF[@]}" "$IMG" cat <<<"from stdin"
	check docker-run-stdin 0 '^from stdin$'
	call_tty "${DK[@]}" run --rm -it "${DF[@]}" "$IMG" sh -c 'tty && exit 6'
	# With -i, script(1) passes the end of its stdin (/dev/null) on as a
	# control character whose echo may come first (with runc too): -it
	# checks are not anchored.
	check docker-run-tty 6 '/dev/pts/0'
	expect docker-run-missing-cmd 127 'executable file not found' "${DK[@]}" run --rm "${DF[@]}" "$IMG" nosuchcmd
	expect docker-run-not-executable 126 'permission denied' "${DK[@]}" run --rm "${DF[@]}" "$IMG" /etc/passwd
	expect docker-run-user 0 '^uid=65534\(nobody\) gid=65534' "${DK[@]}" run --rm --user 65534:65534 "${DF[@]}" "$IMG" id
	expect docker-run-memory 0 '^67108864$' "${DK[@]}" run --rm --memory 64m "${DF[@]}" "$IMG" \
		cat /sys/fs/cgroup/memory/memory.limit_in_bytes
	# 32 MiB written to a tmpfs is charged to the container: with a 16 MiB
	# limit and no swap the kernel OOM-kills the writer.
	expect docker-run-memory-enforced 137 '' "${DK[@]}" run --rm --memory 16m --memory-swap 16m "${DF[@]}" "$IMG" \
		sh -c 'head -c 32m /dev/zero >/dev/shm/fill'

	expect docker-run-detach 0 '^[0-9a-f]{64}$' "${DK[@]}" run -d --name c1 --memory 64m "${DF[@]}" "$IMG" sleep 1000
	local id=$out
	expect docker-state-running 0 '^running$' "${DK[@]}" inspect -f '{{.State.Status}}' c1
	call "${DK[@]}" inspect -f '{{.State.Pid}}' c1
	local dpid=$out
	expect docker-runtime-state 0 "\"pid\": $dpid," "${RS[@]}" state "$id"
	if [[ $(cat "/sys/fs/cgroup/memory$CG/$id/memory.limit_in_bytes" 2>/dev/null) == 67108864 ]] &&
		grep -qx "$dpid" "/sys/fs/cgroup/memory$CG/$id/cgroup.procs"; then
		ok docker-memory-cgroup
	else
		bad docker-memory-cgroup "no 64 MiB limit or pid $dpid in /sys/fs/cgroup/memory$CG/$id"
	fi
	expect docker-exec 0 '^hi$' "${DK[@]}" exec c1 echo hi
	expect docker-exec-exit-status 4 '' "${DK[@]}" exec c1 sh -c 'exit 4'
	call "${DK[@]}" exec -i c1 cat <<<"exec stdin"
	check docker-exec-stdin 0 '^exec stdin$'
	call_tty "${DK[@]}" exec -t c1 tty
	check docker-exec-tty 0 '^/dev/pts/[0-9]+'
	call_tty "${DK[@]}" exec -it c1 sh -c 'tty && exit 5'
	check docker-exec-it 5 '/dev/pts/[0-9]+'
	expect docker-exec-detach 0 '' "${DK[@]}" exec -d c1 sleep 77
	wait_for docker-top 10 'sleep 1000.*sleep 77|sleep 77.*sleep 1000' "${DK[@]}" top c1
	expect docker-stats 0 '^c1 [0-9.]+([KMG]i)?B / 64MiB$' "${DK[@]}" stats --no-stream --format '{{.Name}} {{.MemUsage}}' c1
	expect docker-pause 0 '' "${DK[@]}" pause c1
	expect docker-state-paused 0 '^paused$' "${DK[@]}" inspect -f '{{.State.Status}}' c1
	expect docker-runtime-state-paused 0 '"status": "paused"' "${RS[@]}" state "$id"
	expect docker-unpause 0 '' "${DK[@]}" unpause c1
	expect docker-state-unpaused 0 '^running$' "${DK[@]}" inspect -f '{{.State.Status}}' c1
	expect docker-kill 0 '' "${DK[@]}" kill c1
	wait_for docker-state-killed 10 '^exited 137$' "${DK[@]}" inspect -f '{{.State.Status}} {{.State.ExitCode}}' c1
	expect docker-exec-stopped-fails 1 'is not running' "${DK[@]}" exec c1 true
	expect docker-restart 0 '' "${DK[@]}" start c1
	expect docker-state-restarted 0 '^running$' "${DK[@]}" inspect -f '{{.State.Status}}' c1

	# SIGTERM reaches a handler; stop does not need its SIGKILL
	expect docker-run-detach-2 0 '' "${DK[@]}" run -d --name c2 "${DF[@]}" "$IMG" \
		sh -c 'trap "exit 5" TERM; while :; do sleep 0.1; done'
	expect docker-stop-term 0 '' "${DK[@]}" stop -t 20 c2
	expect docker-stop-term-exit-code 0 '^exited 5$' "${DK[@]}" inspect -f '{{.State.Status}} {{.State.ExitCode}}' c2
	expect docker-rm 0 '' "${DK[@]}" rm c2
	expect docker-rm-force-running 0 '' "${DK[@]}" rm -f c1
	call "${DK[@]}" ps -aq
	if [[ $rc -eq 0 && -z $out ]]; then ok docker-ps-empty; else bad docker-ps-empty "exit $rc: $(short "$out")"; fi
	call "${RS[@]}" list -q
	if [[ $rc -eq 0 && -z $out ]]; then ok docker-runtime-list-empty; else bad docker-runtime-list-empty "exit $rc: $(short "$out")"; fi
}

[[ ${CALLERS_ONLY:-podman} == podman ]] && podman_tests
[[ ${CALLERS_ONLY:-containerd} == containerd ]] && containerd_tests
[[ ${CALLERS_ONLY:-docker} == docker ]] && docker_tests

printf '%d passed, %d failed\n' "$pass" "$fail"
((fail == 0))
