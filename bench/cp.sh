#!/usr/bin/env bash
# bench/cp.sh: `rexec cp` and `rexec sync` against scp and rsync, side by
# side on 127.0.0.1, in four groups (docs/BENCHMARKS.md, "File copy"):
#
#   file   one 1 GiB file up and down in tmpfs: rexec cp against scp with
#          its default cipher and with aes128-gcm
#   disk   the same file up and down into a directory on a disk (rexec
#          fsyncs; scp does not, so each run starts with `sync`)
#   tree   10,000 files of 4 KiB in 100 directories, uploaded into tmpfs
#          and into the disk directory: rexec cp -r against rsync -a over
#          ssh with aes128-gcm
#   sync   the same tree unchanged: rexec sync against rsync's second run
#
# and the peak RSS of the rexec client and of the daemon in each rexec
# benchmark (one more run each, under /usr/bin/time, with the daemon's
# peak reset through /proc/PID/clear_refs first).
#
# As in bench/compare.sh, everything is private: keys, sshd_config, homes and
# data live in temporary directories, both daemons listen on 127.0.0.1 only
# (never port 22), and a trap stops them on exit, failure or Ctrl-C. The
# rexec binary is installed by copy (install(1)) before it is timed, as
# compare.sh does: the file the linker wrote execs slower.
#
# Knobs (environment):
#   CP_GROUPS   which groups to run (default "file disk tree sync")
#   BYTES       size of the file of file and disk (default 1G; K/M/G
#               suffixes are binary)
#   TREE_FILES  files of the tree (default 10000, in 100 directories)
#   RUNS        timed runs per command (default 5); in each round every
#               command runs once, in an order rotated from round to round,
#               so a burst of load hits all alike
#   DISK_DIR    a directory on a disk for disk and tree (default /var/tmp)
#   LOAD_MAX    wait (up to LOAD_WAIT seconds, default 600) for the 1-minute
#               load average to fall under this before starting (default
#               1.5; 0 starts at once)
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
# Quick run:  BYTES=256M TREE_FILES=2000 RUNS=2 bench/cp.sh

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

GROUPS_IN=${CP_GROUPS:-file disk tree sync}
RUNS=${RUNS:-5}
SSH_PORT=${SSH_PORT:-17422}
REXEC_PORT=${REXEC_PORT:-17622}
OUT=${OUT:-$repo/bench/out/cp}
BYTES_IN=${BYTES:-1G}
TREE_FILES=${TREE_FILES:-10000}
DISK_DIR=${DISK_DIR:-/var/tmp}
LOAD_MAX=${LOAD_MAX:-1.5}
LOAD_WAIT=${LOAD_WAIT:-600}
STAT=${STAT:-median}

. "$here/lib.sh" # log, die, port_free, wait_ok, use_rexec, start_rexec_serve, start_sshd

[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer"
[[ $TREE_FILES =~ ^[1-9][0-9]*$ ]] || die "TREE_FILES must be a positive integer"
[[ $LOAD_WAIT =~ ^[0-9]+$ ]] || die "LOAD_WAIT must be a number of seconds"
[[ $LOAD_MAX =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "LOAD_MAX must be a number"
case "$STAT" in median | min) ;; *) die "STAT must be median or min" ;; esac
declare -A want_group=()
for g in $GROUPS_IN; do
	case "$g" in file | disk | tree | sync) want_group[$g]=1 ;; *) die "unknown group $g (file, disk, tree, sync)" ;; esac
done
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
command -v rsync >/dev/null || need_pkgs+=(rsync)
command -v hyperfine >/dev/null || need_pkgs+=(hyperfine)
command -v jq >/dev/null || need_pkgs+=(jq)
[[ -x /usr/bin/time ]] || need_pkgs+=(time)
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
if [[ -n ${REXEC_BASE:-} ]]; then
	[[ -x $REXEC_BASE ]] || die "REXEC_BASE $REXEC_BASE is not an executable"
	port_free $((REXEC_PORT + 1)) || die "port $((REXEC_PORT + 1)) (REXEC_BASE's daemon) is in use; set REXEC_PORT"
fi
if [[ -n ${want_group[disk]:-} || -n ${want_group[tree]:-} || -n ${want_group[sync]:-} ]]; then
	[[ -d $DISK_DIR && -w $DISK_DIR ]] || die "DISK_DIR $DISK_DIR is not a writable directory"
	case "$(df --output=fstype "$DISK_DIR" | tail -n1)" in
	tmpfs | ramfs) die "DISK_DIR $DISK_DIR is in memory ($(df --output=fstype "$DISK_DIR" | tail -n1)); give a directory on a disk" ;;
	esac
fi

# ---------------------------------------------------------------- cleanup

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rexec-cpbench.XXXXXX")
if [[ -d /dev/shm && -w /dev/shm ]]; then
	shm=$(mktemp -d /dev/shm/rexec-cpbench.XXXXXX)
else
	die "the file and tree groups need /dev/shm (tmpfs)"
fi
disk=
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
		log "kept $tmp, $shm and ${disk:-no disk directory}"
	else
		rm -rf "$tmp" "$shm" ${disk:+"$disk"}
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$OUT"
if [[ -n ${want_group[disk]:-} || -n ${want_group[tree]:-} || -n ${want_group[sync]:-} ]]; then
	disk=$(mktemp -d "$DISK_DIR/rexec-cpbench.XXXXXX")
fi

# ---------------------------------------------------------------- daemons

use_rexec
start_rexec_serve
if [[ -n ${REXEC_BASE:-} ]]; then
	base_home=$tmp/rexec-home-base
	mkdir -p "$base_home"
	install -m 0755 "$REXEC_BASE" "$tmp/rexec-base"
	REXEC_BASE=$tmp/rexec-base
	REXEC_HOME=$base_home "$REXEC_BASE" serve --listen "127.0.0.1:$((REXEC_PORT + 1))" --log-format text \
		>"$tmp/rexec-base-serve.log" 2>&1 &
	base_pid=$!
fi

start_sshd <<<'Subsystem sftp /usr/lib/openssh/sftp-server'

ssh_opts=(-F none -i "$tmp/id_ed25519" -o StrictHostKeyChecking=no -o UserKnownHostsFile="$tmp/known_hosts"
	-o BatchMode=yes -o IdentitiesOnly=yes -o IdentityAgent=none -o LogLevel=ERROR)
scp_cmd="scp -q ${ssh_opts[*]} -P $SSH_PORT"
rsync_cmd="rsync -a -e 'ssh ${ssh_opts[*]} -p $SSH_PORT -c aes128-gcm@openssh.com'"
rexec_cp="$rexec cp -q -P $REXEC_PORT"
rexec_sync="$rexec sync -q -P $REXEC_PORT"
wait_ok sshd ssh "${ssh_opts[@]}" -p "$SSH_PORT" 127.0.0.1 true
wait_ok "rexec serve" "$rexec" run "localhost:$REXEC_PORT" -- true
if [[ -n ${REXEC_BASE:-} ]]; then
	base_cp="env REXEC_HOME=$base_home $REXEC_BASE cp -q -P $((REXEC_PORT + 1))"
	base_sync="env REXEC_HOME=$base_home $REXEC_BASE sync -q -P $((REXEC_PORT + 1))"
	wait_ok "rexec serve (REXEC_BASE)" env REXEC_HOME="$base_home" "$REXEC_BASE" run "localhost:$((REXEC_PORT + 1))" -- true
fi
ssh_default_cipher=$(ssh "${ssh_opts[@]}" -p "$SSH_PORT" -v 127.0.0.1 true 2>&1 |
	sed -n 's/.*kex: server->client cipher: \([^ ]*\).*/\1/p' | head -n1)

# ---------------------------------------------------------------- data

src=$shm/src.bin
tree=$shm/tree
if [[ -n ${want_group[file]:-} || -n ${want_group[disk]:-} ]]; then
	log "writing $BYTES random bytes to $src"
	head -c "$BYTES" /dev/urandom >"$src"
	want_sha=$(sha256sum "$src" | cut -d' ' -f1)
fi
if [[ -n ${want_group[tree]:-} || -n ${want_group[sync]:-} ]]; then
	log "writing $TREE_FILES files of 4 KiB in 100 directories to $tree"
	per=$(((TREE_FILES + 99) / 100))
	for d in $(seq -w 0 99); do
		mkdir -p "$tree/d$d"
		head -c $((per * 4096)) /dev/urandom | split -b 4096 -a 4 -d - "$tree/d$d/f"
	done
	tree_files=$(find "$tree" -type f | wc -l)
fi

# ---------------------------------------------------------------- commands

names=()
declare -A cmds=() prep=() check=() label=() rss=()
add() { # NAME LABEL PREPARE COMMAND CHECK [rss]: CHECK compares the copy after the runs
	names+=("$1")
	label[$1]=$2 prep[$1]=$3 cmds[$1]=$4 check[$1]=$5
	[[ ${6:-} != rss ]] || rss[$1]=1
}
same_file() { echo "[[ \$(sha256sum '$1' | cut -d' ' -f1) == $want_sha ]]"; }
same_tree() { echo "diff -r '$tree' '$1' >/dev/null"; }
# add_rexec NAME LABEL PREPARE COMMAND CHECK: a rexec benchmark, and its
# REXEC_BASE twin. In the strings, @CP@ and @SYNC@ stand for the client's
# cp and sync, @T@ for a name of the variant's own (rexec, base).
add_rexec() {
	local v
	for v in rexec base; do
		[[ $v == rexec || -n ${REXEC_BASE:-} ]] || continue
		local cp=$rexec_cp sy=$rexec_sync
		[[ $v == rexec ]] || cp=$base_cp sy=$base_sync
		local name=${1/rexec/$v} lab=$2
		[[ $v == rexec ]] || lab="REXEC_BASE: $2"
		local pr=${3//@T@/$v} cm=${4//@T@/$v} ck=${5//@T@/$v}
		cm=${cm//@CP@/$cp}
		cm=${cm//@SYNC@/$sy}
		add "$name" "$lab" "$pr" "$cm" "$ck" rss
	done
}

if [[ -n ${want_group[file]:-} ]]; then
	for c in default gcm; do
		opt=
		[[ $c == default ]] || opt="-c aes128-gcm@openssh.com"
		add "scp-up-$c" "scp upload ($c)" "rm -f $shm/scp-up-$c.bin" "$scp_cmd $opt $src 127.0.0.1:$shm/scp-up-$c.bin" \
			"$(same_file "$shm/scp-up-$c.bin")"
		add "scp-down-$c" "scp download ($c)" "rm -f $shm/scp-down-$c.bin" "$scp_cmd $opt 127.0.0.1:$src $shm/scp-down-$c.bin" \
			"$(same_file "$shm/scp-down-$c.bin")"
	done
	add_rexec rexec-up "rexec cp upload" "rm -f $shm/@T@-up.bin" "@CP@ $src localhost:$shm/@T@-up.bin" \
		"$(same_file "$shm/@T@-up.bin")"
	add_rexec rexec-down "rexec cp download" "rm -f $shm/@T@-down.bin" "@CP@ localhost:$src $shm/@T@-down.bin" \
		"$(same_file "$shm/@T@-down.bin")"
fi
if [[ -n ${want_group[disk]:-} ]]; then
	add scp-up-disk "scp upload to disk (default)" "rm -f $disk/scp-up.bin; sync" "$scp_cmd $src 127.0.0.1:$disk/scp-up.bin" \
		"$(same_file "$disk/scp-up.bin")"
	add scp-down-disk "scp download to disk (default)" "rm -f $disk/scp-down.bin; sync" \
		"$scp_cmd 127.0.0.1:$src $disk/scp-down.bin" "$(same_file "$disk/scp-down.bin")"
	add_rexec rexec-up-disk "rexec cp upload to disk" "rm -f $disk/@T@-up.bin; sync" \
		"@CP@ $src localhost:$disk/@T@-up.bin" "$(same_file "$disk/@T@-up.bin")"
	add_rexec rexec-down-disk "rexec cp download to disk" "rm -f $disk/@T@-down.bin; sync" \
		"@CP@ localhost:$src $disk/@T@-down.bin" "$(same_file "$disk/@T@-down.bin")"
fi
if [[ -n ${want_group[tree]:-} ]]; then
	for where in shm disk; do
		dir=$shm
		[[ $where == shm ]] || dir=$disk
		add "rsync-tree-$where" "rsync -a tree upload ($where)" "rm -rf $dir/rsync-tree; sync" \
			"$rsync_cmd $tree/ 127.0.0.1:$dir/rsync-tree/" "$(same_tree "$dir/rsync-tree")"
		add_rexec "rexec-tree-$where" "rexec cp -r tree upload ($where)" "rm -rf $dir/@T@-tree; sync" \
			"@CP@ -r $tree localhost:$dir/@T@-tree" "$(same_tree "$dir/@T@-tree")"
	done
fi
if [[ -n ${want_group[sync]:-} ]]; then
	log "first runs of the unchanged-tree syncs"
	eval "$rsync_cmd $tree/ 127.0.0.1:$disk/rsync-sync/"
	$rexec_sync "$tree/" "localhost:$disk/rexec-sync"
	[[ -z ${REXEC_BASE:-} ]] || $base_sync "$tree/" "localhost:$disk/base-sync"
	add rsync-sync "rsync -a, unchanged tree (second run)" true "$rsync_cmd $tree/ 127.0.0.1:$disk/rsync-sync/" \
		"$(same_tree "$disk/rsync-sync")"
	add_rexec rexec-sync "rexec sync, unchanged tree" true "@SYNC@ $tree/ localhost:$disk/@T@-sync" \
		"$(same_tree "$disk/@T@-sync")"
fi

# ---------------------------------------------------------------- measure

if [[ $LOAD_MAX != 0 ]]; then
	waited=0
	while awk "BEGIN { exit !($(cut -d' ' -f1 /proc/loadavg) >= $LOAD_MAX) }"; do
		((waited < LOAD_WAIT)) || { log "load still $(cut -d' ' -f1-3 /proc/loadavg) after ${LOAD_WAIT}s; starting anyway"; break; }
		((waited % 60)) || log "load $(cut -d' ' -f1-3 /proc/loadavg); waiting for it to fall under $LOAD_MAX"
		sleep 10
		waited=$((waited + 10))
	done
fi

hf() { # NAME ROUND
	local name=$1 round=$2
	log "hyperfine: $name, round $round"
	hyperfine -N --style basic --runs 1 --prepare "bash -c '${prep[$name]}'" \
		--export-json "$OUT/raw/$name.r$round.json" --command-name "$name" "bash -c \"${cmds[$name]//\"/\\\"}\"" >&2 &
	hf_pid=$!
	wait "$hf_pid"
	hf_pid=
}

rm -rf "$OUT/raw"
mkdir -p "$OUT/raw"
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq "$RUNS"); do
	n=${#names[@]}
	for i in $(seq 0 $((n - 1))); do hf "${names[$(((i + r) % n))]}" "$r"; done
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

for name in "${names[@]}"; do
	bash -c "${check[$name]}" || die "$name: the copy differs from its source"
	jq -s '[.[].results[0].times[]] | sort | {times: ., median: (if length % 2 == 1 then .[(length - 1) / 2]
		else (.[length / 2 - 1] + .[length / 2]) / 2 end), min: .[0], max: .[-1]}' \
		"$OUT"/raw/"$name".r*.json >"$OUT/$name.json"
done

# Memory: one more run of each rexec command under /usr/bin/time (the
# client's peak RSS), the daemon's peak (VmHWM) reset before it.
declare -A client_kb=() daemon_kb=()
for name in "${names[@]}"; do
	[[ -n ${rss[$name]:-} ]] || continue
	pid=$rexec_pid
	[[ $name != base-* ]] || pid=$base_pid
	bash -c "${prep[$name]}"
	echo 5 >"/proc/$pid/clear_refs"
	client_kb[$name]=$(bash -c "/usr/bin/time -f %M ${cmds[$name]}" 2>&1 >/dev/null | tail -n1)
	daemon_kb[$name]=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status")
done

# ---------------------------------------------------------------- report

stat() { jq -r ".$STAT" "$OUT/$1.json"; }
calc() { awk "BEGIN { printf \"$1\n\", $2 }"; }
verdict() { if awk "BEGIN { exit !($1 $2 $3) }"; then echo PASS; else echo MISS; fi; }
rate() { # NAME: MB/s for a file, files/s for a tree
	case "$1" in
	*tree* | *sync*) calc %.0f "$tree_files / $(stat "$1")" ;;
	*) calc %.0f "$BYTES / $(stat "$1") / 1e6" ;;
	esac
}
row() {
	printf '| %-44s | %8s | %8s | %8s | %13s |\n' "${label[$1]}" "$(calc %.3f "$(jq -r .median "$OUT/$1.json")")" \
		"$(calc %.3f "$(jq -r .min "$OUT/$1.json")")" "$(calc %.3f "$(jq -r .max "$OUT/$1.json")")" "$(rate "$1")"
}
ratio() { calc %.2f "$(stat "$2") / $(stat "$1")"; } # A B: how many times faster A is than B
check_row() { # LABEL A B TARGET
	local v
	v=$(ratio "$2" "$3")
	printf '| %-52s | %8s | %8s | %-7s |\n' "$1" "$v" ">= $4" "$(verdict "$v" '>=' "$4")"
}
has() { [[ -f $OUT/$1.json ]]; }

summary=$OUT/summary.md
{
	echo "# rexec cp and sync vs scp and rsync on 127.0.0.1 ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
	echo
	echo "- host: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), Linux $(uname -r)"
	echo "- $(ssh -V 2>&1), scp over SFTP, default cipher ${ssh_default_cipher:-?}; $(rsync --version | head -n1)"
	echo "- file: $BYTES random bytes in tmpfs; disk: $(df --output=fstype "${disk:-$shm}" | tail -n1) (${disk:-none});" \
		"tree: ${tree_files:-0} files of 4 KiB in 100 directories"
	echo "- $RUNS runs each, taking turns; load average before / after: $load0 / $load1"
	echo "- times in seconds; rates and ratios use the $STAT; every copy was compared with its source after the runs"
	echo
	printf '| %-44s | median s |    min s |    max s | %13s |\n' "benchmark" "MB/s, files/s"
	echo "|----------------------------------------------|----------|----------|----------|---------------|"
	for name in "${names[@]}"; do row "$name"; done
	echo
	echo "| check (times faster)                                 |    value |   target | verdict |"
	echo "|------------------------------------------------------|----------|----------|---------|"
	if has rexec-up; then
		check_row "rexec up / scp up (default cipher)" rexec-up scp-up-default 2.0
		check_row "rexec up / scp up (aes128-gcm)" rexec-up scp-up-gcm 1.4
		check_row "rexec down / scp down (default cipher)" rexec-down scp-down-default 2.0
		check_row "rexec down / scp down (aes128-gcm)" rexec-down scp-down-gcm 1.4
	fi
	if has rexec-up-disk; then
		check_row "rexec up to disk, fsynced / scp up (default)" rexec-up-disk scp-up-disk 1.2
		check_row "rexec down to disk, fsynced / scp down (default)" rexec-down-disk scp-down-disk 1.2
	fi
	if has rexec-tree-shm; then
		check_row "rexec cp -r / rsync -a, tree to tmpfs" rexec-tree-shm rsync-tree-shm 1.0
		check_row "rexec cp -r / rsync -a, tree to disk (fsynced)" rexec-tree-disk rsync-tree-disk 1.0
	fi
	if has rexec-sync; then
		check_row "rexec sync / rsync -a, unchanged tree" rexec-sync rsync-sync 1.0
	fi
	if [[ -n ${REXEC_BASE:-} ]]; then
		for name in "${names[@]}"; do
			[[ $name == rexec-* ]] || continue
			printf '| %-52s | %8s | %8s | %-7s |\n' "$name: new / REXEC_BASE" "$(ratio "$name" "base-${name#rexec-}")" "(info)" ""
		done
	fi
	echo
	echo "| peak RSS (MiB)                               |   client |   daemon | target | verdict |"
	echo "|----------------------------------------------|----------|----------|--------|---------|"
	for name in "${names[@]}"; do
		[[ -n ${rss[$name]:-} ]] || continue
		c=$(calc %.1f "${client_kb[$name]} / 1024")
		d=$(calc %.1f "${daemon_kb[$name]} / 1024")
		m=$(calc %.1f "(${client_kb[$name]} > ${daemon_kb[$name]} ? ${client_kb[$name]} : ${daemon_kb[$name]}) / 1024")
		printf '| %-44s | %8s | %8s | %6s | %-7s |\n' "${label[$name]}" "$c" "$d" "< 64" "$(verdict "$m" '<' 64)"
	done
} >"$summary"
echo
cat "$summary"
log "summary.md and per-run hyperfine JSON (raw/) are in $OUT"
