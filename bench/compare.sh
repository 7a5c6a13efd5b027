#!/usr/bin/env bash
# bench/compare.sh: side-by-side latency and throughput of rexec and OpenSSH
# on 127.0.0.1. See docs/BENCHMARKS.md.
#
# Everything runs on loopback with private ports, keys, config and homes in a
# temporary directory; the system sshd, port 22 and ~/.ssh are never used.
# The daemons started here are stopped on exit, also on failure or Ctrl-C.
#
# Knobs (environment):
#   BYTES        bytes streamed per throughput run (default 2147483648 = 2 GiB;
#                suffixes K/M/G mean KiB/MiB/GiB, e.g. BYTES=256M)
#   RUNS         runs per latency benchmark, in total (default 60)
#   ROUNDS       latency runs are split into this many rounds in which the
#                three commands take turns (default 3)
#   WARMUP       warmup runs per latency benchmark and round (default 5)
#   TP_RUNS      runs per throughput benchmark (default 5); the four
#                streams take turns, one run each per round
#   TP_WARMUP    warmup runs per throughput benchmark, first round (default 1)
#   SSH_PORT     port of the private sshd (default 17222)
#   REXEC_PORT   port of the private rexec daemon (default 17322)
#   OUT          output directory (default bench/out)
#   REXEC_BIN    use this rexec binary instead of building one (e.g. a variant
#                built with profiling); the client and the daemon both use it
#   KEEP_TMP=1   keep the temporary directory (keys, configs, daemon logs)
#   STAT=median  statistic used for the ratios: median (default) or mean
#   ACCOUNT=0    skip the one-shot as another account (by default, when run
#                as root, a temporary account rxbench-PID is created, its own
#                authorized_keys holds the bench key, and `rexec run
#                rxbench-PID@localhost -- true` is timed in the same rounds;
#                the account is removed on exit)
#   SSH_BASHRC=1 let bash source ~/.bashrc under sshd. Debian's bash does so
#                whenever SSH_CLIENT is set (rexec sessions never trigger it);
#                by default this script's sshd sets SHLVL=1 in sessions, which
#                stops it, so both tools time the same `bash -c CMD`.
#
# Quick run:  RUNS=10 WARMUP=2 TP_RUNS=2 BYTES=256M bench/compare.sh

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

RUNS=${RUNS:-60}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-5}
TP_RUNS=${TP_RUNS:-5}
TP_WARMUP=${TP_WARMUP:-1}
SSH_PORT=${SSH_PORT:-17222}
REXEC_PORT=${REXEC_PORT:-17322}
OUT=${OUT:-$repo/bench/out}
STAT=${STAT:-median}
SSH_BASHRC=${SSH_BASHRC:-0}
BYTES_IN=${BYTES:-2147483648}

. "$here/lib.sh" # log, die, port_free, wait_ok, use_rexec, start_rexec_serve, start_sshd

case "$STAT" in median | mean) ;; *) die "STAT must be median or mean" ;; esac
for v in RUNS ROUNDS TP_RUNS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer"
done
for v in WARMUP TP_WARMUP; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer"
done

# BYTES: a plain integer, or with a K/M/G (binary) suffix.
if [[ $BYTES_IN =~ ^[0-9]+$ ]]; then
	BYTES=$BYTES_IN
elif [[ $BYTES_IN =~ ^[0-9]+[KMGkmg]$ ]]; then
	BYTES=$(numfmt --from=iec "${BYTES_IN^^}")
else
	die "BYTES must be an integer or end in K, M or G (got $BYTES_IN)"
fi
[[ $BYTES -gt 0 ]] || die "BYTES must be positive"

# ---------------------------------------------------------------- prerequisites

need_pkgs=()
[[ -x /usr/sbin/sshd ]] || need_pkgs+=(openssh-server)
command -v ssh >/dev/null && command -v ssh-keygen >/dev/null || need_pkgs+=(openssh-client)
command -v hyperfine >/dev/null || need_pkgs+=(hyperfine)
command -v jq >/dev/null || need_pkgs+=(jq)
if ((${#need_pkgs[@]})); then
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
		log "installing ${need_pkgs[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get install -y "${need_pkgs[@]}" >/dev/null ||
			{ apt-get update >/dev/null && apt-get install -y "${need_pkgs[@]}" >/dev/null; }
	else
		die "missing ${need_pkgs[*]}: install them (as root this script runs apt-get itself)"
	fi
fi
command -v go >/dev/null || [[ -n ${REXEC_BIN:-} ]] || die "go is needed to build rexec (or set REXEC_BIN)"

port_free "$SSH_PORT" || die "port $SSH_PORT is in use; set SSH_PORT"
port_free "$REXEC_PORT" || die "port $REXEC_PORT is in use; set REXEC_PORT"
[[ $SSH_PORT != "$REXEC_PORT" ]] || die "SSH_PORT and REXEC_PORT must differ"

# ---------------------------------------------------------------- cleanup

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rexec-bench.XXXXXX")
sshd_pid= rexec_pid= cm_started= hf_pid= bench_user=
cleanup() {
	local rc=$?
	set +e
	if [[ -n $hf_pid ]]; then
		kill "$hf_pid" 2>/dev/null
		wait "$hf_pid" 2>/dev/null
	fi
	if [[ -n $cm_started ]]; then
		ssh -F none -o ControlPath="$tmp/cm.sock" -O exit -p "$SSH_PORT" 127.0.0.1 >/dev/null 2>&1
	fi
	for pid in $rexec_pid $sshd_pid; do
		kill "$pid" 2>/dev/null
	done
	for pid in $rexec_pid $sshd_pid; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	if [[ -n $bench_user ]]; then
		pkill -KILL -u "$bench_user" 2>/dev/null
		userdel --remove --force "$bench_user" 2>/dev/null
	fi
	if [[ ${KEEP_TMP:-0} == 1 ]]; then
		log "kept $tmp"
	else
		rm -rf "$tmp"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$OUT"

# ---------------------------------------------------------------- rexec

use_rexec
start_rexec_serve

# ---------------------------------------------------------------- sshd

extra_sshd='PermitTTY yes
MaxStartups 100:30:200
MaxSessions 100'
if [[ $SSH_BASHRC != 1 ]]; then
	# Debian builds bash with SSH_SOURCE_BASHRC: a `bash -c CMD` started by
	# sshd reads ~/.bashrc unless SHLVL says it is not a top-level shell. A
	# heavy .bashrc (pyenv, nvm, ...) would otherwise be timed as "ssh".
	extra_sshd+=$'\nSetEnv SHLVL=1'
fi
start_sshd <<<"$extra_sshd"

# Client options, without -c (the cipher is chosen per benchmark).
ssh_opts=(-F none -i "$tmp/id_ed25519" -p "$SSH_PORT"
	-o StrictHostKeyChecking=no -o UserKnownHostsFile="$tmp/known_hosts"
	-o BatchMode=yes -o IdentitiesOnly=yes -o IdentityAgent=none
	-o LogLevel=ERROR)
ssh_cmd="ssh ${ssh_opts[*]}"
cm_cmd="ssh ${ssh_opts[*]} -o ControlPath=$tmp/cm.sock"
rexec_cmd="$rexec run localhost:$REXEC_PORT --"

wait_ok sshd ssh "${ssh_opts[@]}" 127.0.0.1 true
wait_ok "rexec serve" "$rexec" run "localhost:$REXEC_PORT" -- true

ssh "${ssh_opts[@]}" -o ControlMaster=yes -o ControlPath="$tmp/cm.sock" -o ControlPersist=yes -fN 127.0.0.1
cm_started=1
wait_ok "ssh ControlMaster" ssh "${ssh_opts[@]}" -o ControlPath="$tmp/cm.sock" -O check 127.0.0.1

# Sanity: every path must deliver exactly the bytes asked for, or the
# timings mean nothing. A small odd count (just over one rexec frame) keeps
# this quick; the streams measured below are the same commands.
probe=$((1048576 + 4099))
check_bytes() { # NAME CMD...
	local name=$1 got
	shift
	got=$("$@" | wc -c)
	[[ $got -eq $probe ]] || die "$name delivered $got bytes, want $probe"
}
check_bytes "ssh aes128-gcm" ssh "${ssh_opts[@]}" -c aes128-gcm@openssh.com 127.0.0.1 "head -c $probe /dev/zero"
check_bytes "ssh default" ssh "${ssh_opts[@]}" 127.0.0.1 "head -c $probe /dev/zero"
check_bytes "rexec" "$rexec" run "localhost:$REXEC_PORT" -- "head -c $probe /dev/zero"

# Another account (a root daemon serves every one): a temporary account
# whose own authorized_keys holds the bench client's key.
if [[ ${ACCOUNT:-1} == 1 && $(id -u) -eq 0 ]] && command -v useradd >/dev/null; then
	bench_user=rxbench-$$
	useradd --create-home --user-group --shell /bin/sh "$bench_user"
	usermod --password '*' "$bench_user" # keys only: a locked ("!") account may not log in
	bhome=$(getent passwd "$bench_user" | cut -d: -f6)
	install -d -o "$bench_user" -g "$bench_user" -m 0700 "$bhome/.config" "$bhome/.config/rexec"
	install -o "$bench_user" -g "$bench_user" -m 0600 "$REXEC_HOME/id_ed25519.pub" "$bhome/.config/rexec/authorized_keys"
	wait_ok "rexec as $bench_user" "$rexec" run "$bench_user@localhost:$REXEC_PORT" -- true
fi

ssh_default_cipher=$(ssh "${ssh_opts[@]}" -v 127.0.0.1 true 2>&1 |
	sed -n 's/.*kex: server->client cipher: \([^ ]*\).*/\1/p' | head -n1)

# ---------------------------------------------------------------- measure

# hf NAME ROUND RUNS WARMUP CMD: one hyperfine run set, kept in $OUT/raw.
hf() {
	local name=$1 round=$2 runs=$3 warmup=$4 cmd=$5
	log "hyperfine: $name, round $round ($runs runs)"
	# In the background and waited for, so that a TERM to this script is
	# handled at once (bash runs traps only between foreground commands).
	hyperfine -N --style basic --runs "$runs" --warmup "$warmup" \
		--export-json "$OUT/raw/$name.r$round.json" --command-name "$name" "$cmd" >&2 &
	hf_pid=$!
	wait "$hf_pid"
	hf_pid=
}

# merge NAME: pool the times of every round into $OUT/NAME.json, with the
# statistics recomputed over the pool (hyperfine's JSON layout).
merge() {
	jq -s --arg name "$1" '
		[.[].results[0].times[]] | sort as $t | ($t | length) as $n
		| ($t | add / $n) as $mean
		| {results: [{command: $name, times: $t, mean: $mean,
			median: (if $n % 2 == 1 then $t[($n - 1) / 2] else ($t[$n / 2 - 1] + $t[$n / 2]) / 2 end),
			stddev: (if $n > 1 then (($t | map(. - $mean | . * .) | add) / ($n - 1) | sqrt) else 0 end),
			min: $t[0], max: $t[-1]}]}' "$OUT"/raw/"$1".r*.json >"$OUT/$1.json"
}

rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -z ${REXEC_BIN:-} ]] && [[ -n $(git -C "$repo" status --porcelain -- cmd internal go.mod go.sum 2>/dev/null) ]]; then
	rev="$rev + uncommitted changes"
fi
load0=$(cut -d' ' -f1-3 /proc/loadavg)
rm -rf "$OUT/raw"
mkdir -p "$OUT/raw"

# The machine may be shared: rather than one long block per tool, the tools
# take turns, ROUNDS times, so a burst of load hits all of them alike.
per_round=$(((RUNS + ROUNDS - 1) / ROUNDS))
for r in $(seq "$ROUNDS"); do
	w=$WARMUP
	hf lat-ssh-fresh "$r" "$per_round" "$w" "$ssh_cmd 127.0.0.1 true"
	hf lat-ssh-controlmaster "$r" "$per_round" "$w" "$cm_cmd 127.0.0.1 true"
	hf lat-rexec "$r" "$per_round" "$w" "$rexec_cmd true"
	if [[ -n $bench_user ]]; then
		hf lat-rexec-account "$r" "$per_round" "$w" "$rexec run $bench_user@localhost:$REXEC_PORT -- true"
	fi
done

stream="head -c $BYTES /dev/zero"
for r in $(seq "$TP_RUNS"); do
	w=0
	((r > 1)) || w=$TP_WARMUP
	hf tp-local-pipe "$r" 1 "$w" "sh -c '$stream | cat'"
	hf tp-ssh-aes128gcm "$r" 1 "$w" "$ssh_cmd -c aes128-gcm@openssh.com 127.0.0.1 '$stream'"
	hf tp-ssh-default "$r" 1 "$w" "$ssh_cmd 127.0.0.1 '$stream'"
	hf tp-rexec "$r" 1 "$w" "$rexec_cmd '$stream'"
done

for name in lat-ssh-fresh lat-ssh-controlmaster lat-rexec tp-local-pipe tp-ssh-aes128gcm tp-ssh-default tp-rexec; do
	merge "$name"
done
[[ -z $bench_user ]] || merge lat-rexec-account

# ---------------------------------------------------------------- report

st() { jq -r ".results[0].$2" "$OUT/$1.json"; } # NAME FIELD
sec() { st "$1" "$STAT"; }
calc() { awk "BEGIN { printf \"$1\n\", $2 }"; } # FORMAT EXPR
mbps() { calc %.0f "$BYTES / $(sec "$1") / 1e6"; }
row_lat() { # NAME LABEL
	printf '| %-44s | %9s | %9s | %9s | %9s |\n' "$2" \
		"$(calc %.2f "$(st "$1" median) * 1000")" "$(calc %.2f "$(st "$1" mean) * 1000")" \
		"$(calc %.2f "$(st "$1" stddev) * 1000")" "$(calc %.2f "$(st "$1" min) * 1000")"
}
row_tp() {
	printf '| %-44s | %9s | %9s | %9s | %9s |\n' "$2" \
		"$(calc %.3f "$(st "$1" median)")" "$(calc %.3f "$(st "$1" mean)")" \
		"$(calc %.3f "$(st "$1" stddev)")" "$(mbps "$1")"
}
verdict() { # VALUE OP TARGET
	if awk "BEGIN { exit !($1 $2 $3) }"; then echo PASS; else echo MISS; fi
}

r_cm=$(calc %.3f "$(sec lat-rexec) / $(sec lat-ssh-controlmaster)")
r_fresh=$(calc %.1f "$(sec lat-ssh-fresh) / $(sec lat-rexec)")
r_gcm=$(calc %.2f "$(mbps tp-rexec) / $(mbps tp-ssh-aes128gcm)")
r_def=$(calc %.2f "$(mbps tp-rexec) / $(mbps tp-ssh-default)")

summary=$OUT/summary.md
{
	echo "# rexec vs OpenSSH on 127.0.0.1 ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
	echo
	echo "- host: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), Linux $(uname -r)"
	echo "- $(ssh -V 2>&1), default cipher ${ssh_default_cipher:-?}; $(go version 2>/dev/null || echo 'go: n/a')"
	echo "- rexec: $("$rexec" version 2>/dev/null | head -n1)${REXEC_BIN:+ ($REXEC_BIN)}; tree: $rev"
	echo "- load average before / after: $load0 / $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- latency: $((per_round * ROUNDS)) runs each ($ROUNDS rounds of $per_round, $WARMUP warmup per round);" \
		"throughput: $TP_RUNS runs each (+ $TP_WARMUP warmup) of $BYTES bytes"
	echo "- ratios use the $STAT; ssh sessions read ~/.bashrc: $([[ $SSH_BASHRC == 1 ]] && echo yes || echo 'no (SetEnv SHLVL=1)')"
	echo
	printf '| %-44s | median ms |   mean ms | stddev ms |    min ms |\n' 'latency (`true`)'
	echo "|----------------------------------------------|-----------|-----------|-----------|-----------|"
	row_lat lat-ssh-fresh "ssh, fresh connection"
	row_lat lat-ssh-controlmaster "ssh, through ControlMaster"
	row_lat lat-rexec "rexec run (fresh connection)"
	[[ -z $bench_user ]] || row_lat lat-rexec-account "rexec run as another account"
	echo
	printf '| %-44s |  median s |    mean s |  stddev s |      MB/s |\n' "throughput (\`head -c $BYTES /dev/zero\`)"
	echo "|----------------------------------------------|-----------|-----------|-----------|-----------|"
	row_tp tp-local-pipe "local pipe (head | cat), reference"
	row_tp tp-ssh-aes128gcm "ssh -c aes128-gcm@openssh.com"
	row_tp tp-ssh-default "ssh default (${ssh_default_cipher:-?})"
	row_tp tp-rexec "rexec run"
	echo
	echo "| ratio                                        |  value | target | verdict |"
	echo "|----------------------------------------------|--------|--------|---------|"
	printf '| %-44s | %6s | %6s | %-7s |\n' "rexec one-shot / ssh ControlMaster (time)" "$r_cm" "<= 0.8" "$(verdict "$r_cm" '<=' 0.8)"
	printf '| %-44s | %6s | %6s | %-7s |\n' "fresh ssh / rexec one-shot (time)" "$r_fresh" ">= 25" "$(verdict "$r_fresh" '>=' 25)"
	printf '| %-44s | %6s | %6s | %-7s |\n' "rexec MB/s / ssh aes128-gcm MB/s" "$r_gcm" ">= 1.2" "$(verdict "$r_gcm" '>=' 1.2)"
	printf '| %-44s | %6s | %6s | %-7s |\n' "rexec MB/s / ssh default MB/s" "$r_def" ">= 1.8" "$(verdict "$r_def" '>=' 1.8)"
	if [[ -n $bench_user ]]; then
		r_acct=$(calc %.3f "$(sec lat-rexec-account) / $(sec lat-ssh-controlmaster)")
		printf '| %-44s | %6s | %6s | %-7s |\n' "as another account / ssh ControlMaster" "$r_acct" "<= 0.9" "$(verdict "$r_acct" '<=' 0.9)"
	fi
} >"$summary"

jq -n --argjson bytes "$BYTES" --arg stat "$STAT" \
	--argjson cm "$r_cm" --argjson fresh "$r_fresh" --argjson gcm "$r_gcm" --argjson dflt "$r_def" \
	--argjson rexec_mbps "$(mbps tp-rexec)" --argjson gcm_mbps "$(mbps tp-ssh-aes128gcm)" \
	--argjson def_mbps "$(mbps tp-ssh-default)" '{bytes: $bytes, statistic: $stat,
	mbps: {rexec: $rexec_mbps, ssh_aes128gcm: $gcm_mbps, ssh_default: $def_mbps},
	ratios: {
		rexec_over_ssh_controlmaster: {value: $cm, target: "<= 0.8", pass: ($cm <= 0.8)},
		ssh_fresh_over_rexec: {value: $fresh, target: ">= 25", pass: ($fresh >= 25)},
		rexec_over_ssh_aes128gcm_mbps: {value: $gcm, target: ">= 1.2", pass: ($gcm >= 1.2)},
		rexec_over_ssh_default_mbps: {value: $dflt, target: ">= 1.8", pass: ($dflt >= 1.8)}}}' >"$OUT/ratios.json"

echo
cat "$summary"
echo
log "summary.md, ratios.json and hyperfine JSON (raw/ per round) are in $OUT"
