#!/usr/bin/env bash
# bench/sshtransport.sh: the tools that use ssh as a transport, over OpenSSH
# (aes128-gcm) and over `rexec ssh`, side by side on 127.0.0.1: rsync of one
# big file, rsync of a tree of many small files, and a git clone of a
# repository with many commits. See docs/BENCHMARKS.md, "rexec ssh as a
# transport".
#
# Everything runs on loopback with private ports, keys, config and homes in a
# temporary directory; the system sshd, port 22 and ~/.ssh are never used.
# The daemons started here are stopped on exit, also on failure or Ctrl-C.
#
# Knobs (environment):
#   BIG_MB      size of the big file in MiB (default 1024)
#   FILES       files in the tree (default 10000), FILE_KB each (default 4)
#   COMMITS     commits in the git repository (default 3000)
#   RUNS        runs per benchmark and tool, taking turns (default 3)
#   SSH_PORT    port of the private sshd (default 17223)
#   REXEC_PORT  port of the private rexec daemon (default 17323)
#   REXEC_BIN   use this rexec binary instead of building one
#   KEEP_TMP=1  keep the temporary directory
#
# Quick run:  BIG_MB=128 FILES=1000 COMMITS=300 RUNS=1 bench/sshtransport.sh

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

BIG_MB=${BIG_MB:-1024}
FILES=${FILES:-10000}
FILE_KB=${FILE_KB:-4}
COMMITS=${COMMITS:-3000}
RUNS=${RUNS:-3}
SSH_PORT=${SSH_PORT:-17223}
REXEC_PORT=${REXEC_PORT:-17323}

. "$here/lib.sh" # log, die, use_rexec, start_rexec_serve, start_sshd

for v in BIG_MB FILES FILE_KB COMMITS RUNS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer"
done
for t in rsync git /usr/sbin/sshd ssh ssh-keygen /usr/bin/time bc; do
	command -v "$t" >/dev/null || die "needs $t (apt-get install rsync git openssh-server openssh-client time bc)"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rexec-sshbench.XXXXXX")
sshd_pid= rexec_pid=
cleanup() {
	local rc=$?
	set +e
	for pid in $rexec_pid $sshd_pid; do kill "$pid" 2>/dev/null; done
	for pid in $rexec_pid $sshd_pid; do wait "$pid" 2>/dev/null; done
	if [[ ${KEEP_TMP:-0} == 1 ]]; then log "kept $tmp"; else rm -rf "$tmp"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- daemons

use_rexec
start_rexec_serve

start_sshd <<'EOF'
AcceptEnv GIT_PROTOCOL
SetEnv SHLVL=1
EOF

ssh_cmd="ssh -F none -p $SSH_PORT -i $tmp/id_ed25519 -o StrictHostKeyChecking=no -o UserKnownHostsFile=$tmp/known_hosts -o BatchMode=yes -o IdentitiesOnly=yes -o IdentityAgent=none -c aes128-gcm@openssh.com -o LogLevel=ERROR"
rexec_cmd="$rexec ssh -p $REXEC_PORT -o BatchMode=yes"

# shellcheck disable=SC2086 # the commands are strings, split into words on purpose
wait_ok sshd $ssh_cmd 127.0.0.1 true
# shellcheck disable=SC2086
wait_ok "rexec serve" $rexec_cmd 127.0.0.1 true

# ---------------------------------------------------------------- data

log "making the data: a ${BIG_MB} MiB file, $FILES files of $FILE_KB KiB, a repository of $COMMITS commits"
mkdir -p "$tmp/src/tree"
head -c "$((BIG_MB << 20))" /dev/urandom >"$tmp/src/big"
python3 - "$tmp/src/tree" "$FILES" "$FILE_KB" <<'EOF'
import os, sys
root, n, kb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    d = os.path.join(root, "d%03d" % (i // 100))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d" % i), "wb") as f:
        f.write(os.urandom(kb << 10))
EOF
git init -q --bare "$tmp/repo.git"
python3 - "$COMMITS" <<'EOF' | git -C "$tmp/repo.git" fast-import --quiet
import sys
n = int(sys.argv[1])
for i in range(n):
    body = ("line %d\n" % i) * 50
    msg = "commit %d\n" % i
    print("commit refs/heads/main")
    print("committer bench <b@b> %d +0000" % (1700000000 + i))
    print("data %d" % len(msg)); sys.stdout.write(msg)
    print("M 644 inline file%d.txt" % (i % 200))
    print("data %d" % len(body)); sys.stdout.write(body)
    print()
EOF
git -C "$tmp/repo.git" symbolic-ref HEAD refs/heads/main
git -C "$tmp/repo.git" gc -q

# ---------------------------------------------------------------- runs

# ticks PID: CPU ticks of a daemon and of its reaped children (the
# sessions and what they ran), fields 14-17 of /proc/PID/stat.
ticks() { awk '{print $14+$15+$16+$17}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# measure DAEMON_PID CMD...: "wall_ms cpu_ms" of CMD, where the CPU time is
# the command's and its children's (the local tool and the ssh or rexec
# client) plus what the daemon and its sessions used meanwhile. On a
# shared machine the CPU time is the steadier figure.
measure() {
	local pid=$1 s e a b
	shift
	a=$(ticks "$pid")
	s=$(date +%s%N)
	/usr/bin/time -f '%U %S' -o "$tmp/time" "$@" >/dev/null 2>"$tmp/last.err" || { cat "$tmp/last.err" >&2; die "failed: $*"; }
	e=$(date +%s%N)
	b=$(ticks "$pid")
	read -r u sy <"$tmp/time"
	echo "$(((e - s) / 1000000)) $(echo "($u + $sy) * 1000 + ($b - $a) * 1000 / $hz" | bc -l | cut -d. -f1)"
}

declare -A wall cpu
bench() { # NAME TOOL PID CMD...
	local name=$1 tool=$2 r
	shift 2
	r=$(measure "$@")
	wall[$name/$tool]+="${r% *} "
	cpu[$name/$tool]+="${r#* } "
}

rm_dst() { rm -rf "$tmp/dst"; mkdir -p "$tmp/dst"; sync; }

for run in $(seq "$RUNS"); do
	log "round $run of $RUNS"
	for tool in ssh rexec; do
		if [[ $tool == ssh ]]; then e=$ssh_cmd pid=$sshd_pid; else e=$rexec_cmd pid=$rexec_pid; fi
		rm_dst
		bench "rsync big file" $tool "$pid" rsync -a -e "$e" "$tmp/src/big" "127.0.0.1:$tmp/dst/"
		rm_dst
		bench "rsync $FILES files" $tool "$pid" rsync -a -e "$e" "$tmp/src/tree/" "127.0.0.1:$tmp/dst/tree/"
		rm -rf "$tmp/clone"
		bench "git clone $COMMITS commits" $tool "$pid" env GIT_SSH_COMMAND="$e" git clone -q "ssh://127.0.0.1$tmp/repo.git" "$tmp/clone"
	done
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

printf '\n%-28s %10s %10s %6s   %10s %10s %6s\n' "median of $RUNS" "ssh wall" "rexec wall" "ratio" "ssh CPU" "rexec CPU" "ratio"
for name in "rsync big file" "rsync $FILES files" "git clone $COMMITS commits"; do
	sw=$(echo "${wall[$name/ssh]}" | median) rw=$(echo "${wall[$name/rexec]}" | median)
	sc=$(echo "${cpu[$name/ssh]}" | median) rc=$(echo "${cpu[$name/rexec]}" | median)
	printf '%-28s %8s ms %8s ms %6.2f   %8s ms %8s ms %6.2f\n' "$name" "$sw" "$rw" "$(echo "$rw / $sw" | bc -l)" \
		"$sc" "$rc" "$(echo "$rc / $sc" | bc -l)"
	printf '  wall: ssh %s| rexec %s\n  CPU:  ssh %s| rexec %s\n' "${wall[$name/ssh]}" "${wall[$name/rexec]}" \
		"${cpu[$name/ssh]}" "${cpu[$name/rexec]}"
done
