#!/usr/bin/env bash
# Benchmark create+start+delete of the busybox bundle running /bin/true:
# rt vs runc vs crun, in one hyperfine run, plus the peak memory (max RSS) of
# each runtime call.
#
#   sudo hack/bench.sh [--readme] [RT_BINARY]
#
# RT_BINARY: any runc-compatible binary (default the static release build,
# see build_release in common.sh). --readme: also write the results into README.md between the
# bench markers. Environment: BENCH_RUNS (50 per runtime), BENCH_WARMUP (5),
# BENCH_ROUNDS (5, see below), RSS_RUNS (10); BENCH_JSON=FILE keeps
# hyperfine's JSON export, BENCH_LOG=FILE its output. BENCH_SECCOMP=FILE puts
# the seccomp profile FILE (e.g. from hack/seccomp-profile.sh) in every
# bundle and adds "rt-nocache": the same rt with its seccomp cache blocked
# (a file where the cache directory would be), so it compiles every time.
#
# Every iteration (hack/bench-once.sh) runs inside the same wrapper for all
# three runtimes: a private mount namespace with the cgroup2
# cgroup.controllers masked by an empty file, which crun needs on this hybrid
# host. The wrapper alone is measured too and subtracted in the "net" column.
# Each runtime gets its own state root in a temp dir and its own cgroup
# /rt-bench/<runtime>; everything is removed at the end, also on failure.
#
# rt-bundle (pulling an image into a bundle, against skopeo + umoci) has its
# own benchmark: hack/bench-bundle.sh.
set -euo pipefail
# shellcheck source=hack/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

readme=false
if [[ ${1-} == --readme ]]; then
	readme=true
	shift
fi
(($# <= 1)) || die "usage: $0 [--readme] [RT_BINARY]"
need_root "$0"

runs=${BENCH_RUNS:-50}
warmup=${BENCH_WARMUP:-5}
rounds=${BENCH_ROUNDS:-5}
rss_runs=${RSS_RUNS:-10}
((rounds >= 1 && runs % rounds == 0)) || die "BENCH_RUNS ($runs) must be a multiple of BENCH_ROUNDS ($rounds)"
once=$RT_TOP/hack/bench-once.sh

"$RT_TOP/hack/setup.sh"

if (($# == 1)); then
	rt=$(command -v -- "$1" || true)
	[[ -n $rt && -x $rt ]] || die "$1: not an executable"
else
	rt=$RT_RELEASE
	log "building $rt"
	build_release
fi
rt=$(realpath -- "$rt")
declare -A bin=([rt]=$rt [runc]=$(command -v runc) [crun]=$(command -v crun))
names=(rt runc crun)
seccomp=${BENCH_SECCOMP-}
if [[ -n $seccomp ]]; then
	[[ -r $seccomp ]] || die "BENCH_SECCOMP=$seccomp: not readable"
	! $readme || die "--readme writes the default benchmark; run it without BENCH_SECCOMP"
	bin[rt-nocache]=$rt
	names+=(rt-nocache)
fi

tmp=$(mktemp -d /tmp/rt-bench.XXXXXX)
mask=$tmp/empty
: >"$mask"
cleanup() {
	set +e
	local n
	for n in "${names[@]}"; do
		"$once" --mask "$mask" --clean "${bin[$n]}" "$tmp/root-$n"
	done
	remove_cgroup_tree /rt-bench
	rm -rf -- "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for n in "${names[@]}"; do
	"$RT_TOP/hack/mkbundle.sh" "$tmp/bundle-$n" /bin/true 2>"$tmp/mkbundle.log" ||
		{ cat "$tmp/mkbundle.log" >&2; die "mkbundle.sh failed"; }
	jq --tab --arg cg "/rt-bench/$n" --slurpfile sc "${seccomp:-/dev/null}" \
		'.linux.cgroupsPath = $cg | if $sc == [] then . else .linux.seccomp = $sc[0] end' \
		"$tmp/bundle-$n/config.json" >"$tmp/config.json"
	mv "$tmp/config.json" "$tmp/bundle-$n/config.json"
	mkdir -p "$tmp/root-$n"
	[[ $n != rt-nocache ]] || : >"$tmp/root-$n/.@seccomp-cache"
	# One checked run first, so that a broken runtime fails here, loudly.
	"$once" --mask "$mask" "${bin[$n]}" "$tmp/root-$n" "check-$n" "$tmp/bundle-$n" ||
		die "$n (${bin[$n]}) failed a create/start/delete of $tmp/bundle-$n"
done

q() { printf '%q' "$1"; }
# The wrapper alone is measured first; then the three runtimes go round-robin
# in BENCH_ROUNDS rounds of runs/rounds runs each, the order rotating from one
# round to the next (rt runc crun, runc crun rt, crun rt runc, ...), all in
# this one hyperfine run. On this shared 2-core VM the speed drifts by up to
# ~10% within a minute: with one block of 50 runs per runtime, runc measured
# against itself (RT_BINARY=runc) came out 5-16% slower in the earlier block
# in three runs out of three. Rotating rounds spread such drift over all three;
# the rounds of each runtime are pooled for the statistics below. The wrapper
# gets runs/rounds runs.
cmds=(-n "wrapper#1" "$(q "$once") --mask $(q "$mask") --noop")
for ((k = 0; k < rounds; k++)); do
	for ((j = 0; j < ${#names[@]}; j++)); do
		n=${names[(j + k) % ${#names[@]}]}
		cmds+=(-n "$n#$((k + 1))" "$(q "$once") --mask $(q "$mask") $(q "${bin[$n]}") $(q "$tmp/root-$n") bench-$n $(q "$tmp/bundle-$n")")
	done
done

log "rt = $rt"
log "hyperfine: wrapper, then $rounds rounds x (rt runc crun) x ($warmup warmup + $((runs / rounds)) runs)"
hflog=${BENCH_LOG:-$tmp/hyperfine.log}
hyperfine -N --style basic --warmup "$warmup" --runs "$((runs / rounds))" \
	--export-json "$tmp/hyperfine.json" "${cmds[@]}" >"$hflog" 2>&1 ||
	{ cat "$hflog" >&2; die "hyperfine failed"; }
[[ -z ${BENCH_JSON-} ]] || cp "$tmp/hyperfine.json" "$BENCH_JSON"

# stat_ms NAME: "mean stddev min median" in ms over all rounds of NAME.
stat_ms() {
	jq -r --arg n "$1" '
		[.results[] | select(.command | startswith($n + "#")) | .times[]] as $t
		| ($t | add / length) as $m
		| ($t | map(. - $m | . * .) | add / (length - 1) | sqrt) as $sd
		| ($t | sort | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end) as $med
		| [$m, $sd, ($t | min), $med] | map(. * 1000 | . * 100 | round / 100 | tostring) | join(" ")' \
		"$tmp/hyperfine.json"
}
calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }

read -r wrapper _ <<<"$(stat_ms wrapper)"
declare -A mean net
printf '\nTime per create+start+state+delete of /bin/true, ms, %s runs each (wrapper alone: %s ms)\n' "$runs" "$wrapper"
printf '%-10s %10s %10s %10s %10s %10s\n' runtime mean stddev min median "net mean"
for n in "${names[@]}"; do
	read -r m sd mn med <<<"$(stat_ms "$n")"
	mean[$n]=$m
	net[$n]=$(calc "$m - $wrapper")
	printf '%-10s %10s %10s %10s %10s %10s\n' "$n" "$m" "$sd" "$mn" "$med" "${net[$n]}"
done
printf '\nrt/runc = %s (net %s), rt/crun = %s (net %s)  [ratio of means; < 1 is faster]\n' \
	"$(calc "${mean[rt]} / ${mean[runc]}")" "$(calc "${net[rt]} / ${net[runc]}")" \
	"$(calc "${mean[rt]} / ${mean[crun]}")" "$(calc "${net[rt]} / ${net[crun]}")"

# Peak memory: max RSS (KiB) of each call, the largest over RSS_RUNS runs.
log "max RSS: $rss_runs runs each"
declare -A rss
for n in "${names[@]}"; do
	mkdir -p "$tmp/rss-$n"
	for ((i = 0; i < rss_runs; i++)); do
		"$once" --mask "$mask" --rss "$tmp/rss-$n" "${bin[$n]}" "$tmp/root-$n" "rss-$n" "$tmp/bundle-$n"
	done
	for c in create start state delete; do
		rss[$n.$c]=$(sort -n "$tmp/rss-$n/$c" | tail -n1)
	done
done
printf '\nMax RSS per call (KiB, largest of %s runs)\n' "$rss_runs"
printf '%-10s %10s %10s %10s %10s\n' runtime create start state delete
for n in "${names[@]}"; do
	printf '%-10s %10s %10s %10s %10s\n' "$n" "${rss[$n.create]}" "${rss[$n.start]}" "${rss[$n.state]}" "${rss[$n.delete]}"
done

if $readme; then
	readme_file=$RT_TOP/README.md
	grep -q '^<!-- bench:begin -->$' "$readme_file" || die "no <!-- bench:begin --> marker in README.md"
	# shellcheck disable=SC2016 # Markdown backticks, not command substitution
	{
		printf 'Measured by `hack/bench.sh` on %s (%s, %s cores): create+start+delete of\n' \
			"$(date -u +%Y-%m-%d)" "$(uname -r)" "$(nproc)"
		printf 'the busybox bundle running `/bin/true`, %s runs each, ms net of the\n' "$runs"
		printf 'namespace wrapper (%s ms); max RSS in KiB per call. rt: %s.\n\n' \
			"$wrapper" "$("$rt" --version 2>/dev/null | head -n1 || true)"
		printf '| runtime | net mean ms | create KiB | start KiB | delete KiB |\n'
		printf '| --- | ---: | ---: | ---: | ---: |\n'
		for n in "${names[@]}"; do
			printf '| %s | %s | %s | %s | %s |\n' "$n" "${net[$n]}" "${rss[$n.create]}" "${rss[$n.start]}" "${rss[$n.delete]}"
		done
		printf '\nrt/runc = %s, rt/crun = %s (ratio of net means).\n' \
			"$(calc "${net[rt]} / ${net[runc]}")" "$(calc "${net[rt]} / ${net[crun]}")"
	} >"$tmp/bench.md"
	awk -v f="$tmp/bench.md" '
		/^<!-- bench:begin -->$/ { print; while ((getline l < f) > 0) print l; skip = 1; next }
		/^<!-- bench:end -->$/ { skip = 0 }
		!skip' "$readme_file" >"$tmp/README.md"
	cat "$tmp/README.md" >"$readme_file"
	log "README.md updated"
fi
