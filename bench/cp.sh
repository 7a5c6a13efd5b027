#!/usr/bin/env bash
# bench/cp.sh: `rexec cp` against scp, side by side on 127.0.0.1, moving one
# large file up and down. See docs/BENCHMARKS.md, "File copy".
#
# As in bench/compare.sh, everything is private: keys, sshd_config, homes and
# data live in temporary directories, both daemons listen on 127.0.0.1 only
# (never port 22), and a trap stops them on exit, failure or Ctrl-C.
#
# Knobs (environment):
#   BYTES       size of the file copied (default 1G; K/M/G suffixes are binary)
#   RUNS        timed runs per command (default 5); the commands take turns,
#               one run each per round, so a burst of load hits all alike
#   DATA_DIR    where the source and the copies live (default a directory in
#               /dev/shm, so the disk is out of the picture: both tools then
#               measure protocol, crypto and hashing; set it to a disk path to
#               include the device, where rexec's fsync costs what it costs)
#   SSH_PORT    private sshd port (default 17422)
#   REXEC_PORT  private rexec daemon port (default 17622)
#   OUT         output directory (default bench/out/cp)
#   REXEC_BIN   use this rexec binary instead of building one
#   REXEC_BASE  a second rexec binary (say, one built from an earlier commit)
#               timed in the same rounds against its own daemon on
#               REXEC_PORT+1: the report then gives before/after ratios
#               measured side by side, under the same load
#   KEEP_TMP=1  keep the temporary directories
#   STAT=median statistic of the ratios: median (default) or min (the least
#               disturbed run, for a machine shared with other work)
#
# Quick run:  BYTES=256M RUNS=2 bench/cp.sh

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

RUNS=${RUNS:-5}
SSH_PORT=${SSH_PORT:-17422}
REXEC_PORT=${REXEC_PORT:-17622}
OUT=${OUT:-$repo/bench/out/cp}
BYTES_IN=${BYTES:-1G}
STAT=${STAT:-median}

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'cp.sh: %s\n' "$*" >&2; exit 1; }

[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer"
case "$STAT" in median | min) ;; *) die "STAT must be median or min" ;; esac
if [[ $BYTES_IN =~ ^[0-9]+$ ]]; then
	BYTES=$BYTES_IN
elif [[ $BYTES_IN =~ ^[0-9]+[KMGkmg]$ ]]; then
	BYTES=$(numfmt --from=iec "${BYTES_IN^^}")
else
	die "BYTES must be an integer or end in K, M or G (got $BYTES_IN)"
fi

need_pkgs=()
[[ -x /usr/sbin/sshd ]] || need_pkgs+=(openssh-server)
command -v scp >/dev/null && command -v ssh-keygen >/dev/null || need_pkgs+=(openssh-client)
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
[[ -x /usr/bin/time ]] || die "/usr/bin/time is needed to measure client memory (apt-get install time)"
command -v go >/dev/null || [[ -n ${REXEC_BIN:-} ]] || die "go is needed to build rexec (or set REXEC_BIN)"

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_free "$SSH_PORT" || die "port $SSH_PORT is in use; set SSH_PORT"
port_free "$REXEC_PORT" || die "port $REXEC_PORT is in use; set REXEC_PORT"
if [[ -n ${REXEC_BASE:-} ]]; then
	[[ -x $REXEC_BASE ]] || die "REXEC_BASE $REXEC_BASE is not an executable"
	port_free $((REXEC_PORT + 1)) || die "port $((REXEC_PORT + 1)) (REXEC_BASE's daemon) is in use; set REXEC_PORT"
fi

# ---------------------------------------------------------------- cleanup

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rexec-cpbench.XXXXXX")
if [[ -n ${DATA_DIR:-} ]]; then
	data=$(mktemp -d "$DATA_DIR/rexec-cpbench.XXXXXX")
elif [[ -d /dev/shm && -w /dev/shm ]]; then
	data=$(mktemp -d /dev/shm/rexec-cpbench.XXXXXX)
else
	data=$tmp/data
	mkdir -p "$data"
fi
sshd_pid= rexec_pid= base_pid= hf_pid=
cleanup() {
	local rc=$?
	set +e
	[[ -z $hf_pid ]] || { kill "$hf_pid" 2>/dev/null; wait "$hf_pid" 2>/dev/null; }
	for pid in $rexec_pid $base_pid $sshd_pid; do kill "$pid" 2>/dev/null; done
	for pid in $rexec_pid $base_pid $sshd_pid; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	if [[ ${KEEP_TMP:-0} == 1 ]]; then
		log "kept $tmp and $data"
	else
		rm -rf "$tmp" "$data"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$OUT"

# ---------------------------------------------------------------- daemons

if [[ -n ${REXEC_BIN:-} ]]; then
	rexec=$REXEC_BIN
else
	log "building rexec"
	(cd "$repo" && CGO_ENABLED=0 go build -o "$tmp/rexec" ./cmd/rexec)
	rexec=$tmp/rexec
fi
export REXEC_HOME=$tmp/rexec-home
mkdir -p "$REXEC_HOME"
"$rexec" serve --listen "127.0.0.1:$REXEC_PORT" --log-format text >"$tmp/rexec-serve.log" 2>&1 &
rexec_pid=$!
if [[ -n ${REXEC_BASE:-} ]]; then
	base_home=$tmp/rexec-home-base
	mkdir -p "$base_home"
	REXEC_HOME=$base_home "$REXEC_BASE" serve --listen "127.0.0.1:$((REXEC_PORT + 1))" --log-format text \
		>"$tmp/rexec-base-serve.log" 2>&1 &
	base_pid=$!
fi

mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$tmp/ssh_host_ed25519_key"
ssh-keygen -q -t ed25519 -N '' -C bench-client -f "$tmp/id_ed25519"
cp "$tmp/id_ed25519.pub" "$tmp/authorized_keys"
cat >"$tmp/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $SSH_PORT
HostKey $tmp/ssh_host_ed25519_key
PidFile $tmp/sshd.pid
AuthorizedKeysFile $tmp/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin yes
UsePAM no
StrictModes no
UseDNS no
Subsystem sftp /usr/lib/openssh/sftp-server
LogLevel ERROR
EOF
/usr/sbin/sshd -t -f "$tmp/sshd_config" || die "sshd rejected its config"
/usr/sbin/sshd -D -e -f "$tmp/sshd_config" 2>"$tmp/sshd.log" &
sshd_pid=$!

ssh_opts=(-F none -i "$tmp/id_ed25519" -o StrictHostKeyChecking=no -o UserKnownHostsFile="$tmp/known_hosts"
	-o BatchMode=yes -o IdentitiesOnly=yes -o IdentityAgent=none -o LogLevel=ERROR)
scp_cmd="scp -q ${ssh_opts[*]} -P $SSH_PORT"
rexec_cp="$rexec cp -q -P $REXEC_PORT"

wait_ok() { # NAME CMD...
	local name=$1
	shift
	for _ in $(seq 100); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	die "$name did not come up (KEEP_TMP=1 keeps its log in $tmp)"
}
wait_ok sshd ssh "${ssh_opts[@]}" -p "$SSH_PORT" 127.0.0.1 true
wait_ok "rexec serve" "$rexec" run "localhost:$REXEC_PORT" -- true
if [[ -n ${REXEC_BASE:-} ]]; then
	base_cp="env REXEC_HOME=$base_home $REXEC_BASE cp -q -P $((REXEC_PORT + 1))"
	wait_ok "rexec serve (REXEC_BASE)" env REXEC_HOME="$base_home" "$REXEC_BASE" run "localhost:$((REXEC_PORT + 1))" -- true
fi

# ---------------------------------------------------------------- data

src=$data/src.bin
log "writing $BYTES random bytes to $src"
head -c "$BYTES" /dev/urandom >"$src"
want=$(sha256sum "$src" | cut -d' ' -f1)
ssh_default_cipher=$(ssh "${ssh_opts[@]}" -p "$SSH_PORT" -v 127.0.0.1 true 2>&1 |
	sed -n 's/.*kex: server->client cipher: \([^ ]*\).*/\1/p' | head -n1)

# ---------------------------------------------------------------- measure

names=(scp-up-default scp-up-aes128gcm scp-down-default rexec-up rexec-down)
declare -A cmds=(
	[scp-up-default]="$scp_cmd $src 127.0.0.1:$data/scp-up.bin"
	[scp-up-aes128gcm]="$scp_cmd -c aes128-gcm@openssh.com $src 127.0.0.1:$data/scp-up-gcm.bin"
	[scp-down-default]="$scp_cmd 127.0.0.1:$src $data/scp-down.bin"
	[rexec-up]="$rexec_cp $src localhost:$data/rexec-up.bin"
	[rexec-down]="$rexec_cp localhost:$src $data/rexec-down.bin"
)
declare -A dsts=([scp-up-default]=scp-up.bin [scp-up-aes128gcm]=scp-up-gcm.bin
	[scp-down-default]=scp-down.bin [rexec-up]=rexec-up.bin [rexec-down]=rexec-down.bin)
if [[ -n ${REXEC_BASE:-} ]]; then
	names+=(base-up base-down)
	cmds[base-up]="$base_cp $src localhost:$data/base-up.bin"
	cmds[base-down]="$base_cp localhost:$src $data/base-down.bin"
	dsts[base-up]=base-up.bin
	dsts[base-down]=base-down.bin
fi

hf() { # NAME ROUND
	local name=$1 round=$2
	log "hyperfine: $name, round $round"
	hyperfine -N --style basic --runs 1 --prepare "rm -f $data/${dsts[$name]}" \
		--export-json "$OUT/raw/$name.r$round.json" --command-name "$name" "${cmds[$name]}" >&2 &
	hf_pid=$!
	wait "$hf_pid"
	hf_pid=
}

rm -rf "$OUT/raw"
mkdir -p "$OUT/raw"
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq "$RUNS"); do
	for name in "${names[@]}"; do hf "$name" "$r"; done
done

for name in "${names[@]}"; do
	got=$(sha256sum "$data/${dsts[$name]}" | cut -d' ' -f1)
	[[ $got == "$want" ]] || die "$name delivered sha256 $got, want $want"
	jq -s '[.[].results[0].times[]] | sort | {times: ., median: (if length % 2 == 1 then .[(length - 1) / 2]
		else (.[length / 2 - 1] + .[length / 2]) / 2 end), min: .[0], max: .[-1]}' \
		"$OUT"/raw/"$name".r*.json >"$OUT/$name.json"
done

# Memory: one more run of each rexec direction under /usr/bin/time (client
# peak RSS); the daemon's peak (VmHWM) covers every transfer it served.
rm -f "$data/rexec-up.bin" "$data/rexec-down.bin"
client_up_kb=$(/usr/bin/time -f %M $rexec_cp "$src" "localhost:$data/rexec-up.bin" 2>&1 >/dev/null | tail -n1)
client_down_kb=$(/usr/bin/time -f %M $rexec_cp "localhost:$src" "$data/rexec-down.bin" 2>&1 >/dev/null | tail -n1)
server_kb=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$rexec_pid/status")

# ---------------------------------------------------------------- report

med() { jq -r ".$STAT" "$OUT/$1.json"; }
calc() { awk "BEGIN { printf \"$1\n\", $2 }"; }
mbps() { calc %.0f "$BYTES / $(med "$1") / 1e6"; }
verdict() { if awk "BEGIN { exit !($1 $2 $3) }"; then echo PASS; else echo MISS; fi; }
row() { # NAME LABEL
	printf '| %-40s | %8s | %8s | %8s | %11s |\n' "$2" "$(calc %.3f "$(jq -r .median "$OUT/$1.json")")" \
		"$(calc %.3f "$(jq -r .min "$OUT/$1.json")")" "$(calc %.3f "$(jq -r .max "$OUT/$1.json")")" "$(mbps "$1")"
}
r_def=$(calc %.2f "$(mbps rexec-up) / $(mbps scp-up-default)")
r_gcm=$(calc %.2f "$(mbps rexec-up) / $(mbps scp-up-aes128gcm)")
r_down=$(calc %.2f "$(mbps rexec-down) / $(mbps scp-down-default)")
rss_max_mib=$(calc %.1f "(($client_up_kb > $client_down_kb ? $client_up_kb : $client_down_kb) > $server_kb ? \
($client_up_kb > $client_down_kb ? $client_up_kb : $client_down_kb) : $server_kb) / 1024")

summary=$OUT/summary.md
{
	echo "# rexec cp vs scp on 127.0.0.1 ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
	echo
	echo "- host: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), Linux $(uname -r)"
	echo "- $(ssh -V 2>&1), scp over SFTP, default cipher ${ssh_default_cipher:-?}"
	echo "- file: $BYTES random bytes in $(df --output=fstype "$data" | tail -n1) ($data); $RUNS runs each, taking turns"
	echo "- load average before / after: $load0 / $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- MB/s and the ratios use the $STAT of the runs"
	echo "- every copy's sha256 was checked after the runs; rexec also verifies it end to end and fsyncs"
	echo
	printf '| %-40s | median s |    min s |    max s | %11s |\n' "copy of one file" "MB/s ($STAT)"
	echo "|------------------------------------------|----------|----------|----------|-------------|"
	row scp-up-default "scp upload (default cipher)"
	row scp-up-aes128gcm "scp upload (-c aes128-gcm@openssh.com)"
	row scp-down-default "scp download (default cipher)"
	row rexec-up "rexec cp upload"
	row rexec-down "rexec cp download"
	if [[ -n ${REXEC_BASE:-} ]]; then
		row base-up "REXEC_BASE cp upload"
		row base-down "REXEC_BASE cp download"
	fi
	echo
	echo "| check                                    |    value |   target | verdict |"
	echo "|------------------------------------------|----------|----------|---------|"
	printf '| %-40s | %8s | %8s | %-7s |\n' "rexec up / scp default (MB/s)" "$r_def" ">= 2.0" "$(verdict "$r_def" '>=' 2.0)"
	printf '| %-40s | %8s | %8s | %-7s |\n' "rexec up / scp aes128-gcm (MB/s)" "$r_gcm" ">= 1.4" "$(verdict "$r_gcm" '>=' 1.4)"
	printf '| %-40s | %8s | %8s | %-7s |\n' "rexec down / scp down default (MB/s)" "$r_down" "(info)" ""
	if [[ -n ${REXEC_BASE:-} ]]; then
		for pair in "base up / scp default:base-up:scp-up-default" "base up / scp aes128-gcm:base-up:scp-up-aes128gcm" \
			"base down / scp down default:base-down:scp-down-default" "rexec up / base up:rexec-up:base-up" \
			"rexec down / base down:rexec-down:base-down"; do
			IFS=: read -r label a b <<<"$pair"
			printf '| %-40s | %8s | %8s | %-7s |\n' "$label (MB/s)" "$(calc %.2f "$(mbps "$a") / $(mbps "$b")")" "(info)" ""
		done
	fi
	printf '| %-40s | %8s | %8s | %-7s |\n' "peak RSS, client up/down, daemon (MiB)" \
		"$(calc %.0f "$client_up_kb / 1024")/$(calc %.0f "$client_down_kb / 1024")/$(calc %.0f "$server_kb / 1024")" \
		"< 64" "$(verdict "$rss_max_mib" '<' 64)"
} >"$summary"
echo
cat "$summary"
log "summary.md and per-run hyperfine JSON (raw/) are in $OUT"
