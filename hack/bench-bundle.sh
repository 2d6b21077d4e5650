#!/usr/bin/env bash
# Benchmark rt-bundle against skopeo + umoci: pulling an image from a local
# registry into an OCI bundle, in one hyperfine run.
#
#   sudo hack/bench-bundle.sh
#
# Starts Debian's docker-registry on a free 127.0.0.1 port with its storage
# in a temp dir, pushes a test image made without network (a busybox base
# layer and five layers tarred from this machine's /usr: ~190 MB of tar,
# ~60 MB gzip-compressed, ~6000 files) and measures:
#   a. rt-bundle pull, cold cache (cache and bundle wiped before each run)
#   b. skopeo copy to an OCI layout + umoci unpack (both wiped before each run)
#   c. rt-bundle pull, warm cache (blobs already cached)
#   d. rt-bundle pull --overlay of a second bundle, warm cache (layers already
#      unpacked in the cache by a first overlay bundle)
# and prints a table and the ratio a/b. Environment: BENCH_RUNS (5),
# BENCH_WARMUP (1); BENCH_JSON=FILE keeps hyperfine's JSON export.
# Everything (registry, temp dirs, overlay mounts) is removed at the end,
# also on failure.
set -euo pipefail
# shellcheck source=hack/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

(($# == 0)) || die "usage: $0"
need_root "$0"

runs=${BENCH_RUNS:-5}
warmup=${BENCH_WARMUP:-1}
for tool in docker-registry skopeo umoci hyperfine jq busybox; do
	command -v "$tool" >/dev/null || die "$tool not found (hack/setup.sh installs it)"
done

log "building rt-bundle (release)"
find_cargo
(cd "$RT_TOP" && cargo build --release -p rt-bundle)
rtb=$RT_TOP/target/release/rt-bundle
[[ -x $rtb ]] || die "$rtb missing after the build"

tmp=$(mktemp -d /var/tmp/rt-bench-bundle.XXXXXX)
registry_pid=

cleanup() {
	local rc=$? d
	trap - EXIT INT TERM
	set +e +o pipefail
	if [[ -n $registry_pid ]]; then
		kill "$registry_pid" 2>/dev/null || true
		wait "$registry_pid" 2>/dev/null || true
	fi
	# Overlay bundles first (rt-bundle rm unmounts them), then any mount
	# still under the temp dir, deepest first.
	for d in "$tmp"/overlay-*; do
		[[ ! -e $d ]] || "$rtb" rm "$d"
	done
	findmnt -rn -o TARGET | grep -F "$tmp/" | sort -r | while IFS= read -r d; do
		umount -l -- "$d"
	done
	if findmnt -rn -o TARGET | grep -qF "$tmp/"; then
		printf 'warning: mounts left under %s; not removing it\n' "$tmp" >&2
	else
		rm -rf -- "$tmp"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the registry -------------------------------------------------------

# A random port nothing listens on (the registry fails if it is taken in
# between; we then try another).
free_port() {
	local port
	while :; do
		port=$((20000 + RANDOM % 30000))
		(: >"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
	done
	echo "$port"
}

start_registry() {
	local attempt port i
	mkdir -p "$tmp/registry"
	for attempt in 1 2 3 4 5; do
		port=$(free_port)
		cat >"$tmp/registry/config.yml" <<-EOF
			version: 0.1
			log:
			  level: warn
			storage:
			  filesystem:
			    rootdirectory: $tmp/registry/storage
			http:
			  addr: 127.0.0.1:$port
		EOF
		docker-registry serve "$tmp/registry/config.yml" </dev/null >"$tmp/registry/log" 2>&1 &
		registry_pid=$!
		for ((i = 0; i < 250; i++)); do
			kill -0 "$registry_pid" 2>/dev/null || break
			if (: >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
				host=127.0.0.1:$port
				return 0
			fi
			sleep 0.02
		done
		kill "$registry_pid" 2>/dev/null || true
		wait "$registry_pid" 2>/dev/null || true
		registry_pid=
		log "registry did not start on port $port (attempt $attempt)"
	done
	cat "$tmp/registry/log" >&2
	die "could not start docker-registry"
}

log "starting docker-registry"
start_registry
log "registry at $host (pid $registry_pid)"

# --- the image ----------------------------------------------------------

# An OCI layout written by hand: gzip layers, a config with their diff_ids,
# a manifest, index.json.
layout=$tmp/image
mkdir -p "$layout/blobs/sha256"
printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
layer_descs=()
diff_ids=()
tar_bytes=0
gz_bytes=0

# add_blob FILE: moves FILE into the layout, prints "sha256:HEX SIZE".
add_blob() {
	local hex size
	hex=$(sha256sum "$1" | cut -d' ' -f1)
	size=$(stat -c %s "$1")
	mv -- "$1" "$layout/blobs/sha256/$hex"
	printf 'sha256:%s %s\n' "$hex" "$size"
}

# add_layer TAR: gzips the uncompressed layer TAR into the layout.
add_layer() {
	local tar=$1 diff_id digest size tsize
	diff_id=sha256:$(sha256sum "$tar" | cut -d' ' -f1)
	tsize=$(stat -c %s "$tar")
	gzip -n -6 "$tar"
	read -r digest size < <(add_blob "$tar.gz")
	diff_ids+=("$diff_id")
	layer_descs+=("$(jq -cn --arg d "$digest" --argjson s "$size" \
		'{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $d, size: $s}')")
	tar_bytes=$((tar_bytes + tsize))
	gz_bytes=$((gz_bytes + size))
	log "  layer ${#diff_ids[@]}: $((tsize / 1000000)) MB tar, $((size / 1000000)) MB gzip"
}

# tar_from_root TAR PATH...: a layer with PATHs (relative to /) and their
# parent directories.
tar_from_root() {
	local tar=$1 p parents=()
	shift
	for p in "$@"; do
		[[ -e /$p ]] || die "/$p missing"
		while [[ $p == */* ]]; do
			p=${p%/*}
			parents+=("$p")
		done
	done
	mapfile -t parents < <(printf '%s\n' "${parents[@]}" | sort -u)
	tar -C / --numeric-owner -cf "$tar" --no-recursion "${parents[@]}" --recursion "$@"
}

log "building the test image"
base=$tmp/base
mkdir -p "$base/bin" "$base/etc" "$base/tmp" "$base/root"
cp /bin/busybox "$base/bin/busybox"
ln -s busybox "$base/bin/sh"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$base/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$base/etc/group"
tar -C "$base" --numeric-owner -cf "$tmp/layer1.tar" bin etc tmp root
add_layer "$tmp/layer1.tar"
tar_from_root "$tmp/layer2.tar" usr/lib/x86_64-linux-gnu/perl usr/lib/x86_64-linux-gnu/perl-base
add_layer "$tmp/layer2.tar"
tar_from_root "$tmp/layer3.tar" usr/share/perl usr/share/perl5
add_layer "$tmp/layer3.tar"
tar_from_root "$tmp/layer4.tar" usr/lib/python3.11
add_layer "$tmp/layer4.tar"
tar_from_root "$tmp/layer5.tar" usr/sbin usr/share/zoneinfo
add_layer "$tmp/layer5.tar"
# The shared libraries of up to 1 MiB at the top of the multiarch directory.
(cd / && find usr/lib/x86_64-linux-gnu -maxdepth 1 -type f -name '*.so*' -size -2M -print0 |
	tar --numeric-owner -cf "$tmp/layer6.tar" --null -T -)
add_layer "$tmp/layer6.tar"

config=$tmp/config.json
jq -cn --args '{
	architecture: "amd64", os: "linux",
	config: {Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Cmd: ["/bin/sh"]},
	rootfs: {type: "layers", diff_ids: $ARGS.positional}
}' "${diff_ids[@]}" >"$config"
read -r config_digest config_size < <(add_blob "$config")
manifest=$tmp/manifest.json
printf '%s\n' "${layer_descs[@]}" | jq -cs --arg d "$config_digest" --argjson s "$config_size" '{
	schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
	config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $d, size: $s},
	layers: .
}' >"$manifest"
read -r manifest_digest manifest_size < <(add_blob "$manifest")
jq -cn --arg d "$manifest_digest" --argjson s "$manifest_size" '{
	schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
	manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $d, size: $s,
		annotations: {"org.opencontainers.image.ref.name": "v1"}}]
}' >"$layout/index.json"

ref=$host/bench:v1
log "pushing $ref"
skopeo copy -q --dest-tls-verify=false "oci:$layout:v1" "docker://$ref"
rm -rf -- "$layout"

# --- the benchmark ------------------------------------------------------

cold=$tmp/cache-cold
warm=$tmp/cache-warm
log "filling the warm cache and a first overlay bundle"
"$rtb" pull --insecure --cache "$warm" "$ref" "$tmp/warm-first"
"$rtb" pull --insecure --overlay --cache "$warm" "$ref" "$tmp/overlay-first"
rm -rf -- "$tmp/warm-first"

json=${BENCH_JSON:-$tmp/bench.json}
ov=$tmp/overlay-second
hyperfine --warmup "$warmup" --runs "$runs" --export-json "$json" --style basic \
	--prepare "rm -rf -- '$cold' '$tmp/a'" \
	-n "rt-bundle pull (cold cache)" \
	"'$rtb' pull --insecure --cache '$cold' '$ref' '$tmp/a'" \
	--prepare "rm -rf -- '$tmp/oci' '$tmp/b'" \
	-n "skopeo copy + umoci unpack" \
	"skopeo copy -q --src-tls-verify=false 'docker://$ref' 'oci:$tmp/oci:v1' && umoci unpack --image '$tmp/oci:v1' '$tmp/b' >/dev/null" \
	--prepare "rm -rf -- '$tmp/c'" \
	-n "rt-bundle pull (warm cache)" \
	"'$rtb' pull --insecure --cache '$warm' '$ref' '$tmp/c'" \
	--prepare "if [ -e '$ov' ]; then '$rtb' rm '$ov'; fi" \
	-n "rt-bundle pull --overlay (warm cache, 2nd bundle)" \
	"'$rtb' pull --insecure --overlay --cache '$warm' '$ref' '$ov'" \
	--cleanup "if [ -e '$ov' ]; then '$rtb' rm '$ov'; fi"

printf '\nImage: %d layers, %d MB gzip, %d MB of tar; %d runs each, warmup %d; %s, %s cores.\n\n' \
	"${#diff_ids[@]}" "$((gz_bytes / 1000000))" "$((tar_bytes / 1000000))" \
	"$runs" "$warmup" "$(uname -r)" "$(nproc)"
jq -r '
	def ms: . * 10000 | round / 10;
	"| command | mean ms | ± ms | min ms | max ms |",
	"| --- | ---: | ---: | ---: | ---: |",
	(.results[] | "| \(.command) | \(.mean | ms) | \(.stddev | ms) | \(.min | ms) | \(.max | ms) |"),
	"",
	"rt-bundle/(skopeo+umoci) = \(.results[0].mean / .results[1].mean * 100 | round / 100) (cold-cache rt-bundle pull, ratio of means)"
' "$json"
