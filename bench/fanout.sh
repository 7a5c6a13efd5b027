#!/usr/bin/env bash
# bench/fanout.sh: `rexec run -f 128 HOSTS... -- true` on 1,000 simulated
# hosts, against the pdsh-style estimate of one fresh ssh after another.
# See docs/BENCHMARKS.md ("Fan-out").
#
# The "hosts" are addresses of 127.0.0.0/8 (Linux routes all of it to lo):
# DAEMONS `rexec serve` processes, each listening on its share of
# 127.1.x.y:PORT. Everything lives in a temporary directory with its own
# keys; the daemons are stopped on exit, also on failure or Ctrl-C.
#
# Measured per run: wall time, the client's peak RSS (/usr/bin/time), and
# the client's open file descriptors (sampled from /proc every few ms).
# Two known_hosts layouts are timed, because the client re-reads
# known_hosts for every host it connects to:
#   pinned    one line per host, as `rexec serve`'s zero-config run or
#             `--accept-new` leave it (a real fleet's file)
#   wildcard  one line, [127.1.*]:PORT, for the same key
#
# Knobs (environment):
#   HOSTS     simulated hosts (default 1000)
#   DAEMONS   rexec serve processes sharing them (default 4)
#   FANOUT    -f for the timed runs (default 128)
#   RUNS      timed runs per layout (default 5)
#   SEQ=1     also time -f 1 (one host after another) once, pinned layout
#   PORT      the port every address listens on (default 17522)
#   PDSH=0    skip the pdsh sample (default: run it when pdsh and sshd exist)
#   PDSH_HOSTS hosts in the pdsh sample, a multiple of 16 (default 48): one
#             private sshd per 16 addresses 127.2.x.y:SSH_PORT (sshd listens
#             on at most 16), timed with -f 1 and -f FANOUT
#   SSH_PORT  port of the private sshds (default 17622)
#   OUT       output directory (default bench/out); writes fanout.md
#   REXEC_BIN use this binary instead of building one
#   KEEP_TMP=1 keep the temporary directory
#
# Quick run:  HOSTS=200 RUNS=2 bench/fanout.sh

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

HOSTS=${HOSTS:-1000}
DAEMONS=${DAEMONS:-4}
FANOUT=${FANOUT:-128}
RUNS=${RUNS:-5}
SEQ=${SEQ:-1}
PORT=${PORT:-17522}
PDSH=${PDSH:-auto}
PDSH_HOSTS=${PDSH_HOSTS:-48}
SSH_PORT=${SSH_PORT:-17622}
OUT=${OUT:-$repo/bench/out}

log() { printf '==> %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ -x /usr/bin/time ] || die "/usr/bin/time is needed for peak RSS (apt-get install time)"
[ "$HOSTS" -le 62500 ] || die "HOSTS must be at most 62500 (250 addresses per 127.1.x.0/24, 250 of those)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rexec-fanout.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do
		for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
	done
	if [ "${KEEP_TMP:-0}" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Each connection is one fd in the client; each listener and session some
# more in the daemons. Raise the soft limit as far as the hard one allows.
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -gt 65536 ]; then hard=65536; fi
ulimit -n "$hard"

if [ -n "${REXEC_BIN:-}" ]; then
	bin=$REXEC_BIN
else
	log "building rexec"
	bin=$tmp/rexec
	(cd "$repo" && CGO_ENABLED=0 go build -o "$bin" ./cmd/rexec)
fi

# addr I: the I-th simulated host, 127.1.(I/250).(I%250+1):PORT.
addr() { printf '127.1.%d.%d:%d' $(($1 / 250)) $(($1 % 250 + 1)) "$PORT"; }

hostsfile=$tmp/hosts
for ((i = 0; i < HOSTS; i++)); do addr "$i"; echo; done >"$hostsfile"

# One home for the daemons and the "pinned" client: the first daemon
# creates the keys (zero-config), every daemon pins its own key for each of
# its addresses in known_hosts, one line per address.
home=$tmp/home
mkdir -p "$home"
start_daemon() { # start_daemon N FIRST COUNT
	local n=$1 first=$2 count=$3 args=() i
	for ((i = first; i < first + count; i++)); do args+=(--listen "$(addr "$i")"); done
	REXEC_HOME=$home "$bin" serve --log-format json --grace 2s "${args[@]}" 2>"$tmp/serve$n.log" &
	pids+=($!)
	for _ in $(seq 600); do
		[ "$(grep -c '^rexec: serving on' "$tmp/serve$n.log" || true)" -ge "$count" ] && return 0
		kill -0 "${pids[-1]}" 2>/dev/null || die "daemon $n exited: $(tail -3 "$tmp/serve$n.log")"
		sleep 0.1
	done
	die "daemon $n did not announce $count addresses in 60 s"
}
per=$(((HOSTS + DAEMONS - 1) / DAEMONS))
log "starting $DAEMONS daemons on $HOSTS addresses (127.1.x.y:$PORT)"
for ((d = 0; d < DAEMONS; d++)); do
	first=$((d * per))
	[ "$first" -lt "$HOSTS" ] || break
	count=$((HOSTS - first < per ? HOSTS - first : per))
	start_daemon "$d" "$first" "$count"
done

# The "wildcard" client: same identity, one known_hosts line.
home2=$tmp/home2
mkdir -p "$home2"
chmod 700 "$home2"
cp -p "$home/id_ed25519" "$home/id_ed25519.pub" "$home2/"
read -r ktype kb64 _ <"$home/host_ed25519_key.pub"
printf '[127.1.*]:%s %s %s\n' "$PORT" "$ktype" "$kb64" >"$home2/known_hosts"
chmod 600 "$home2/known_hosts"

# run_once HOME F: one timed fan-out; prints "wall_s rss_kib max_fds".
run_once() {
	local h=$1 f=$2 out=$tmp/out.json tf=$tmp/time.txt tpid cpid max=0 n
	REXEC_HOME=$h /usr/bin/time -f '%e %M' -o "$tf" \
		"$bin" run --output json -f "$f" --hosts "$hostsfile" -- true >"$out" 2>"$tmp/client.err" &
	tpid=$!
	cpid=
	while kill -0 "$tpid" 2>/dev/null; do
		[ -n "$cpid" ] || cpid=$(pgrep -P "$tpid" || true)
		if [ -n "$cpid" ]; then
			n=$({ find "/proc/$cpid/fd" -mindepth 1 -maxdepth 1 2>/dev/null || true; } | wc -l)
			[ "$n" -gt "$max" ] && max=$n
		fi
		sleep 0.002
	done
	wait "$tpid" || die "fan-out failed ($?): $(head -3 "$tmp/client.err")"
	local lines ok
	lines=$(wc -l <"$out")
	ok=$(grep -c '"outcome":"exited","exit_code":0,' "$out" || true)
	[ "$lines" -eq "$HOSTS" ] && [ "$ok" -eq "$HOSTS" ] ||
		die "expected $HOSTS exited lines, got $lines lines, $ok exited 0"
	read -r wall rss <"$tf"
	echo "$wall $rss $max"
}

# median of the numbers on stdin
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

results=$tmp/results
: >"$results"
for layout in pinned wildcard; do
	h=$home
	[ "$layout" = wildcard ] && h=$home2
	run_once "$h" "$FANOUT" >/dev/null # warmup
	for ((r = 1; r <= RUNS; r++)); do
		line=$(run_once "$h" "$FANOUT")
		log "$layout -f $FANOUT run $r: wall s, peak RSS KiB, max fds = $line"
		echo "$layout $FANOUT $line" >>"$results"
	done
done
if [ "$SEQ" = 1 ]; then
	line=$(run_once "$home" 1)
	log "pinned -f 1: $line"
	echo "pinned 1 $line" >>"$results"
fi

# pdsh -R ssh on a sample of hosts, against private sshds (never the
# system's): the same `true`, the same kind of simulated hosts.
pdsh_rows=()
if [ "$PDSH" = auto ]; then
	PDSH=0
	command -v pdsh >/dev/null && [ -x /usr/sbin/sshd ] && [ "$(id -u)" = 0 ] && PDSH=1
fi
if [ "$PDSH" = 1 ]; then
	mkdir -p /run/sshd # privilege separation directory, needed even with -D
	ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$tmp/ssh_host_key"
	ssh-keygen -q -t ed25519 -N '' -C bench-client -f "$tmp/ssh_id"
	cp "$tmp/ssh_id.pub" "$tmp/ssh_authorized_keys"
	pdsh_hosts=()
	for ((s = 0; s < PDSH_HOSTS / 16; s++)); do
		for ((i = 1; i <= 16; i++)); do
			echo "ListenAddress 127.2.$s.$i:$SSH_PORT"
			pdsh_hosts+=("127.2.$s.$i")
		done >"$tmp/sshd$s.config"
		cat >>"$tmp/sshd$s.config" <<EOF
HostKey $tmp/ssh_host_key
PidFile $tmp/sshd$s.pid
AuthorizedKeysFile $tmp/ssh_authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin yes
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
MaxStartups 200:30:400
LogLevel ERROR
SetEnv SHLVL=1
EOF
		/usr/sbin/sshd -t -f "$tmp/sshd$s.config" || die "sshd rejected its config"
		/usr/sbin/sshd -D -e -f "$tmp/sshd$s.config" 2>"$tmp/sshd$s.log" &
		pids+=($!)
	done
	export PDSH_SSH_ARGS="-F none -i $tmp/ssh_id -p $SSH_PORT -o StrictHostKeyChecking=no \
-o UserKnownHostsFile=$tmp/ssh_known_hosts -o BatchMode=yes -o IdentitiesOnly=yes \
-o IdentityAgent=none -o LogLevel=ERROR -l%u %h"
	list=$(IFS=,; echo "${pdsh_hosts[*]}")
	for _ in $(seq 100); do pdsh -R ssh -w "${pdsh_hosts[0]}" true >/dev/null 2>&1 && break; sleep 0.1; done
	pdsh -R ssh -f "$FANOUT" -w "$list" true >/dev/null 2>&1 || true # warmup, pins the key
	for f in 1 "$FANOUT"; do
		start=$(date +%s.%N)
		n=$(pdsh -R ssh -f "$f" -w "$list" 'echo ok' 2>"$tmp/pdsh.err" | grep -c ': ok$' || true)
		wall=$(echo "$(date +%s.%N) - $start" | bc -l)
		[ "$n" -eq "${#pdsh_hosts[@]}" ] || die "pdsh -f $f: $n of ${#pdsh_hosts[@]} hosts answered: $(head -3 "$tmp/pdsh.err")"
		log "pdsh -f $f on $n hosts: $wall s"
		pdsh_rows+=("$(printf '| pdsh -R ssh | %s | %d | %.2f | %.1f | %.0f |' "$f" "$n" "$wall" \
			"$(echo "$wall * 1000 / $n" | bc -l)" "$(echo "$wall * $HOSTS / $n" | bc -l)")")
	done
fi

# The pdsh-style reference: one fresh ssh per host, one after another.
# bench/compare.sh measures a fresh `ssh host true` on this machine; when
# its result is there it is used, else the 128-196 ms measured before.
ssh_ms=""
if [ -f "$OUT/lat-ssh-fresh.json" ] && command -v python3 >/dev/null; then
	ssh_ms=$(python3 -c 'import json,statistics,sys; t=json.load(open(sys.argv[1]))["results"][0]["times"]; print("%.1f" % (statistics.median(t)*1000))' "$OUT/lat-ssh-fresh.json" 2>/dev/null || true)
fi

mkdir -p "$OUT"
{
	echo "# rexec fan-out: \`true\` on $HOSTS simulated hosts ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
	echo
	echo "- host: $(nproc) CPUs, $(uname -sr); $("$bin" version 2>/dev/null | head -1)"
	echo "- $HOSTS addresses 127.1.x.y:$PORT served by $DAEMONS \`rexec serve\` processes; $RUNS runs per layout after a warmup"
	echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
	echo "| known_hosts | -f | runs | median wall s | min wall s | peak client RSS MiB | max client fds |"
	echo "|---|---|---|---|---|---|---|"
	for key in "pinned $FANOUT" "wildcard $FANOUT" "pinned 1"; do
		set -- $key
		sel=$(awk -v l="$1" -v f="$2" '$1==l && $2==f' "$results")
		[ -n "$sel" ] || continue
		n=$(echo "$sel" | wc -l)
		med=$(echo "$sel" | awk '{print $3}' | median)
		min=$(echo "$sel" | awk '{print $3}' | sort -g | head -1)
		rss=$(echo "$sel" | awk '{print $4}' | sort -g | tail -1)
		fds=$(echo "$sel" | awk '{print $5}' | sort -g | tail -1)
		printf '| %s | %s | %s | %s | %s | %.1f | %s |\n' "$1" "$2" "$n" "$med" "$min" "$(echo "$rss / 1024" | bc -l)" "$fds"
	done
	echo
	if [ "${#pdsh_rows[@]}" -gt 0 ]; then
		echo "| tool | -f | hosts | wall s | ms per host | × $HOSTS hosts ≈ s |"
		echo "|---|---|---|---|---|---|"
		printf '%s\n' "${pdsh_rows[@]}"
		echo
	fi
	if [ -n "$ssh_ms" ]; then
		echo "- pdsh-style sequential ssh: fresh \`ssh host true\` median $ssh_ms ms (bench/compare.sh) × $HOSTS ≈ $(echo "$ssh_ms * $HOSTS / 1000" | bc -l | xargs printf '%.0f') s"
	else
		echo "- pdsh-style sequential ssh: 128–196 ms per fresh ssh × $HOSTS ≈ $((128 * HOSTS / 1000))–$((196 * HOSTS / 1000)) s"
	fi
} | tee "$OUT/fanout.md"
