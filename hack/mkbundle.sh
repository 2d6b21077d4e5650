#!/usr/bin/env bash
# Build an OCI bundle at DIR from Debian's busybox-static.
#
#   hack/mkbundle.sh DIR [ARGS...]
#
# DIR/rootfs: /bin/busybox plus a symlink /bin/<applet> -> /bin/busybox for
# every applet, the usual top-level directories, /etc/{passwd,group,hostname}.
# DIR/config.json: what `runc spec` writes, with process.terminal=false,
# process.args=ARGS (default: a short demo) and an absolute
# linux.cgroupsPath=/rt/<basename of DIR> (a relative or empty path would land
# under the caller's own cgroup). An existing bundle at DIR is rebuilt; any
# other non-empty DIR is refused.
set -euo pipefail
# shellcheck source=hack/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

(($# >= 1)) || die "usage: $0 DIR [ARGS...]"
dir=$(realpath -m -- "$1")
shift
name=$(basename -- "$dir")
[[ $name =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]] || die "bundle name '$name' is not usable as a cgroup name"
if (($# == 0)); then
	# shellcheck disable=SC2016 # expanded by the container's shell
	set -- sh -c 'echo "hello from rt: hostname $(hostname), $(id)"; cat /etc/os-release 2>/dev/null || uname -a'
fi

busybox=/bin/busybox
[[ -x $busybox ]] || die "$busybox not found: install busybox-static (hack/setup.sh)"
# A dynamically linked busybox (package busybox) cannot run inside the rootfs.
if ldd "$busybox" >/dev/null 2>&1; then
	die "$busybox is dynamically linked: install busybox-static"
fi
command -v runc >/dev/null || die "runc not found (hack/setup.sh installs it)"
command -v jq >/dev/null || die "jq not found (hack/setup.sh installs it)"

if [[ -e $dir ]]; then
	[[ -d $dir ]] || die "$dir exists and is not a directory"
	for f in "$dir"/* "$dir"/.[!.]*; do
		[[ -e $f || -L $f ]] || continue
		case ${f##*/} in
		rootfs | config.json) ;;
		*) die "$dir is not empty and does not look like a bundle (found ${f##*/}); refusing to overwrite" ;;
		esac
	done
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mkbundle.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT

# config.json: start from `runc spec` and edit it.
# The args go in as named jq args (a0, a1, ...): jq 1.6 would take an arg
# such as -c after --args for one of its own options.
runc spec --bundle "$tmp"
jqargs=()
i=0
for a in "$@"; do
	jqargs+=(--arg "a$i" "$a")
	i=$((i + 1))
done
jq --tab "${jqargs[@]}" --argjson nargs "$#" \
	--arg cgroups "/rt/$name" \
	'.process.terminal = false
	| .process.args = [range(0; $nargs) as $i | $ARGS.named["a\($i)"]]
	| .linux.cgroupsPath = $cgroups' \
	"$tmp/config.json" >"$tmp/config.json.new"
hostname=$(jq -r '.hostname // "rt"' "$tmp/config.json.new")

# rootfs
r=$tmp/rootfs
mkdir -p "$r"/{bin,proc,sys,dev,etc,root,tmp}
chmod 0755 "$r" "$r"/{bin,proc,sys,dev,etc}
chmod 0700 "$r/root"
chmod 1777 "$r/tmp"
cp "$busybox" "$r/bin/busybox"
chmod 0755 "$r/bin/busybox"
n=0
while IFS= read -r applet; do
	[[ -n $applet && $applet != busybox && $applet != */* ]] || continue
	ln -s /bin/busybox "$r/bin/$applet"
	n=$((n + 1))
done < <("$busybox" --list)
cat >"$r/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$r/etc/group" <<'GROUP'
root:x:0:
nobody:x:65534:
GROUP
printf '%s\n' "$hostname" >"$r/etc/hostname"
chmod 0644 "$r"/etc/{passwd,group,hostname}

# Put it in place.
mkdir -p "$dir"
rm -rf -- "$dir/rootfs" "$dir/config.json"
mv "$r" "$dir/rootfs"
mv "$tmp/config.json.new" "$dir/config.json"
chmod 0644 "$dir/config.json"
log "bundle at $dir: $n applets, cgroupsPath /rt/$name, args: $*"
