# bench/lib.sh: what the side-by-side scripts (compare.sh, cp.sh,
# sshtransport.sh) share: messages, the rexec binary and its daemon, and a
# private sshd. Sourced after the script has set $repo; the functions that
# write files use the script's temporary directory $tmp. Nothing here
# touches port 22, the system sshd or ~/.ssh.

log() { printf '==> %s\n' "$*" >&2; }
die() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_ok NAME CMD...: retry CMD until it succeeds, for at most ~10 s.
wait_ok() {
	local name=$1
	shift
	for _ in $(seq 100); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	die "$name did not come up; see its log (KEEP_TMP=1 keeps $tmp)"
}

# use_rexec sets $rexec: REXEC_BIN, or ./cmd/rexec built static (as make
# build does) and installed by copy (as make install does). The file the
# linker wrote sits in the page cache in small pages (it was written
# through a memory map) and every exec of it faults more, 0.1 to 0.9 ms
# per start here, until the cache is dropped: a copy is what users run
# (docs/BENCHMARKS.md).
use_rexec() {
	if [[ -n ${REXEC_BIN:-} ]]; then
		rexec=$REXEC_BIN
		[[ -x $rexec ]] || die "REXEC_BIN=$rexec is not executable"
		return
	fi
	log "building rexec (static, as make build does) and installing it by copy"
	(cd "$repo" && CGO_ENABLED=0 go build -o "$tmp/rexec.built" ./cmd/rexec)
	install -m 0755 "$tmp/rexec.built" "$tmp/rexec"
	rexec=$tmp/rexec
}

# start_rexec_serve starts `rexec serve` on 127.0.0.1:$REXEC_PORT with a
# fresh zero-configuration home, REXEC_HOME (exported, so the clients use
# it), logging to $tmp/rexec-serve.log; sets $rexec_pid.
start_rexec_serve() {
	export REXEC_HOME=$tmp/rexec-home
	mkdir -p "$REXEC_HOME"
	log "starting rexec serve on 127.0.0.1:$REXEC_PORT"
	"$rexec" serve --listen "127.0.0.1:$REXEC_PORT" --log-format text >"$tmp/rexec-serve.log" 2>&1 &
	rexec_pid=$!
}

# start_sshd starts a private sshd on 127.0.0.1:$SSH_PORT: its own host
# key, the client key $tmp/id_ed25519 as its only authorized key, keys
# only, and the lines read from stdin added to its config (what a script
# needs beyond the common part). Sets $sshd_pid.
start_sshd() {
	mkdir -p /run/sshd # the privilege separation directory, needed even with -D
	ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$tmp/ssh_host_ed25519_key"
	ssh-keygen -q -t ed25519 -N '' -C bench-client -f "$tmp/id_ed25519"
	cp "$tmp/id_ed25519.pub" "$tmp/authorized_keys"
	{
		cat <<EOF
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
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
LogLevel ERROR
EOF
		cat
	} >"$tmp/sshd_config"
	/usr/sbin/sshd -t -f "$tmp/sshd_config" || die "sshd rejected its config"
	log "starting sshd on 127.0.0.1:$SSH_PORT"
	/usr/sbin/sshd -D -e -f "$tmp/sshd_config" 2>"$tmp/sshd.log" &
	sshd_pid=$!
}
