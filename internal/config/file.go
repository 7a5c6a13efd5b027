package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// ServerFile is the daemon's TOML config file (docs/CLI.md §8): one key per
// `rexec serve` flag, the flag's name with '_' for '-' (--max-startups is
// max_startups) unless a field's `flag` tag names it otherwise (flag:"-"
// for file-only settings: Flags, FlagNames), plus the [penalty] and
// [syn_watch] tables. A zero field means "not set in the
// file": the flag's default applies. Durations are
// strings such as "30s" or "1m30s"; a bare number is refused, since TOML
// would read it as nanoseconds.
type ServerFile struct {
	Listen            []string      `toml:"listen"`              // --listen, repeatable: "127.0.0.1:7022", "[::1]:7022"
	LegacyListen      string        `toml:"legacy_listen"`       // --legacy-listen
	LegacyAllowRemote bool          `toml:"legacy_allow_remote"` // --legacy-allow-remote
	Grace             time.Duration `toml:"grace"`               // --grace: drain time on SIGTERM
	LogFormat         string        `toml:"log_format"`          // --log-format: auto, text or json
	Metrics           string        `toml:"metrics"`             // --metrics: host:port of /metrics
	AuditLog          string        `toml:"audit_log"`           // --audit-log: path of the audit log
	AuditSync         string        `toml:"audit_sync"`          // --audit-sync: every, end or never (fsync policy)
	AuditRedact       []string      `toml:"audit_redact"`        // --audit-redact, repeatable: env names whose values are hashed ("*TOKEN*")
	AuditCheckpoint   time.Duration `toml:"audit_checkpoint"`    // --audit-checkpoint: signed checkpoint interval; 0: none

	// LegacyAllowUsers are the users (names or numeric uids) whose loopback
	// clients the legacy listener serves; empty means the daemon's own.
	// Its flag is singular: --legacy-allow-user, repeatable.
	LegacyAllowUsers []string `toml:"legacy_allow_users" flag:"legacy-allow-user"`
	LegacyAllowFrom  []string `toml:"legacy_allow_from"` // --legacy-allow-from, repeatable: CIDRs of non-loopback legacy clients
	LegacyEncoding   string   `toml:"legacy_encoding"`   // --legacy-encoding: utf-8 (bytes unchanged) or gbk

	LoginGrace        time.Duration `toml:"login_grace"`          // --login-grace: accept to authenticated, absolute
	MaxStartups       string        `toml:"max_startups"`         // --max-startups: "start:rate:full" or "full"
	PerSourceMax      int           `toml:"per_source_max"`       // --per-source-max: unauthenticated per /32 and /64; -1: no cap
	IdleTimeout       time.Duration `toml:"idle_timeout"`         // --idle-timeout
	Keepalive         time.Duration `toml:"keepalive"`            // --keepalive: ping interval after auth
	MaxSessions       int           `toml:"max_sessions"`         // --max-sessions: in total
	MaxSessionsPerKey int           `toml:"max_sessions_per_key"` // --max-sessions-per-key
	NoResumption      bool          `toml:"no_resumption"`        // --no-resumption: no TLS session tickets
	AcceptEnv         []string      `toml:"accept_env"`           // --accept-env, repeatable: client variables a restricted key may set ("LC_*")

	JobSpoolMax    int           `toml:"job_spool_max"`    // --job-spool-max: bytes of output a detached job keeps, both streams
	JobsSpoolTotal int           `toml:"jobs_spool_total"` // --jobs-spool-total: bytes all jobs' spools may hold
	JobTTL         time.Duration `toml:"job_ttl"`          // --job-ttl: how long a finished job stays readable
	ResumeWindow   time.Duration `toml:"resume_window"`    // --resume-window: how long a dropped session waits for its client
	ResumeBuffer   int           `toml:"resume_buffer"`    // --resume-buffer: unacknowledged output bytes per stream before the command is paused

	Penalty  PenaltyFile  `toml:"penalty"`
	SYNWatch SYNWatchFile `toml:"syn_watch" flag:"-"` // file-only
	Accounts AccountsFile `toml:"accounts" flag:"-"`  // file-only
}

// AccountsFile is the [accounts] table: which accounts a daemon running
// as root serves, and where their keys are (docs/SECURITY.md, "Accounts").
// A daemon running as another user serves its own account only and
// ignores the table.
type AccountsFile struct {
	// PermitRoot is "admin-keys" (the default: root only with a key from
	// a file root owns) or "no", as sshd's PermitRootLogin.
	PermitRoot string `toml:"permit_root"`
	// AllowUsers, DenyUsers, AllowGroups and DenyGroups are sshd's lists:
	// names with * and ?; empty lists admit everyone.
	AllowUsers  []string `toml:"allow_users"`
	DenyUsers   []string `toml:"deny_users"`
	AllowGroups []string `toml:"allow_groups"`
	DenyGroups  []string `toml:"deny_groups"`
	// AuthorizedKeysFiles are where an account's keys are, patterns with
	// %h (home), %u (name), %U (uid); a pattern without %h is the
	// administrator's and must be root's. Default:
	// "%h/.config/rexec/authorized_keys", "/etc/rexec/authorized_keys.d/%u".
	AuthorizedKeysFiles []string `toml:"authorized_keys_files"`
}

// PenaltyFile is the [penalty] table: per-source penalties in the manner
// of OpenSSH's PerSourcePenalties. Each event adds its duration to the
// source's penalty; a source whose penalty exceeds Min is refused until
// it expires; no penalty exceeds Max.
//
// Only Exempt has a flag (--penalty-exempt); the tuning is file-only.
type PenaltyFile struct {
	AuthFailure       time.Duration `toml:"auth_failure" flag:"-"`       // per refused key
	GraceExpired      time.Duration `toml:"grace_expired" flag:"-"`      // per login_grace expiry
	ProtocolViolation time.Duration `toml:"protocol_violation" flag:"-"` // per pre-auth protocol error
	Min               time.Duration `toml:"min" flag:"-"`                // enforced once above this
	Max               time.Duration `toml:"max" flag:"-"`                // cap of one source's penalty
	MaxSources        int           `toml:"max_sources" flag:"-"`        // bound of the penalty table
	Exempt            []string      `toml:"exempt"`                      // --penalty-exempt: addresses or CIDRs never penalised
}

// SYNWatchFile is the [syn_watch] table: the SYN-flood watch that runs
// with --metrics.
type SYNWatchFile struct {
	Interval          time.Duration `toml:"interval"`            // between samples of /proc
	HalfOpenThreshold int           `toml:"half_open_threshold"` // SYN_RECV count that alarms
	CounterRise       int           `toml:"counter_rise"`        // TcpExt counter rise per interval that alarms
}

// MaxStartups is a parsed max_startups value, as sshd's MaxStartups:
// past Start unauthenticated connections, a new one is dropped with
// probability Rate% rising linearly to 100% at Full.
type MaxStartups struct {
	Start, Rate, Full int
}

// MinAuditCheckpoint is the shortest audit_checkpoint: each checkpoint is
// a signature and a record of its own, and a minute's interval already
// bounds what a rewrite can hide to a minute of records; below a second
// the log would fill with checkpoints on a busy server.
const MinAuditCheckpoint = time.Second

// ErrServerFile is wrapped by every error of LoadServerFile and Validate.
var ErrServerFile = errors.New("config: bad server config")

// LoadServerFile reads and validates the server config file at path.
// Unknown keys are refused with their names (a typo must not silently
// leave a limit at its default), as are bare numbers given for durations.
func LoadServerFile(path string) (ServerFile, error) {
	var f ServerFile
	md, err := toml.DecodeFile(path, &f)
	if err != nil {
		return ServerFile{}, fmt.Errorf("%w: %s: %w", ErrServerFile, path, err)
	}
	if undec := md.Undecoded(); len(undec) > 0 {
		keys := make([]string, len(undec))
		for i, k := range undec {
			keys[i] = k.String()
		}
		return ServerFile{}, fmt.Errorf("%w: %s: unknown keys: %s", ErrServerFile, path, strings.Join(keys, ", "))
	}
	durs := durationKeys(reflect.TypeFor[ServerFile](), "")
	for _, k := range md.Keys() {
		if durs[k.String()] && md.Type(k...) != "String" {
			return ServerFile{}, fmt.Errorf("%w: %s: %s: want a duration string such as \"30s\", got %s",
				ErrServerFile, path, k, strings.ToLower(md.Type(k...)))
		}
	}
	if probs := f.problems(); len(probs) > 0 {
		return ServerFile{}, fmt.Errorf("%w: %s: %s", ErrServerFile, path, strings.Join(probs, "; "))
	}
	return f, nil
}

// durationKeys returns the dotted TOML keys of t's time.Duration fields.
func durationKeys(t reflect.Type, prefix string) map[string]bool {
	out := map[string]bool{}
	for f := range t.Fields() {
		key := prefix + strings.Split(f.Tag.Get("toml"), ",")[0]
		switch {
		case f.Type == reflect.TypeFor[time.Duration]():
			out[key] = true
		case f.Type.Kind() == reflect.Struct:
			for k := range durationKeys(f.Type, key+".") {
				out[k] = true
			}
		}
	}
	return out
}

// Validate checks every set field and returns all problems at once on
// one line, each naming its key; the error wraps ErrServerFile.
func (f ServerFile) Validate() error {
	if probs := f.problems(); len(probs) > 0 {
		return fmt.Errorf("%w: %s", ErrServerFile, strings.Join(probs, "; "))
	}
	return nil
}

// problems lists what is wrong with f, as "key: what".
func (f ServerFile) problems() []string {
	var probs []string
	bad := func(key, format string, args ...any) {
		probs = append(probs, key+": "+fmt.Sprintf(format, args...))
	}
	for _, a := range f.Listen {
		if err := checkHostPort(a); err != nil {
			bad("listen", "%q: %v", a, err)
		}
	}
	for _, kv := range []struct{ key, addr string }{{"legacy_listen", f.LegacyListen}, {"metrics", f.Metrics}} {
		if kv.addr == "" {
			continue
		}
		if err := checkHostPort(kv.addr); err != nil {
			bad(kv.key, "%q: %v", kv.addr, err)
		}
	}
	for _, e := range f.LegacyAllowFrom {
		if _, err := ParseSourcePrefix(e); err != nil {
			bad("legacy_allow_from", "%v", err)
		}
	}
	for _, u := range f.LegacyAllowUsers {
		if !isUserSpec(u) {
			bad("legacy_allow_users", "%q: want a user name or a numeric uid", u)
		}
	}
	switch f.LegacyEncoding {
	case "", "utf-8", "gbk":
	default:
		bad("legacy_encoding", "%q: want utf-8 or gbk", f.LegacyEncoding)
	}
	switch f.LogFormat {
	case "", "auto", "text", "json":
	default:
		bad("log_format", "%q: want auto, text or json", f.LogFormat)
	}
	switch f.AuditSync {
	case "", "every", "end", "never":
	default:
		bad("audit_sync", "%q: want every, end or never", f.AuditSync)
	}
	for _, p := range f.AuditRedact {
		if p == "" {
			bad("audit_redact", "empty pattern")
		}
	}
	switch f.Accounts.PermitRoot {
	case "", "admin-keys", "no":
	default:
		bad("accounts.permit_root", "%q: want admin-keys or no", f.Accounts.PermitRoot)
	}
	for _, p := range f.Accounts.AuthorizedKeysFiles {
		if !strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "%h/") {
			bad("accounts.authorized_keys_files", "%q: must be absolute or start with %%h/", p)
		}
	}
	for _, p := range f.AcceptEnv {
		if p == "" || strings.ContainsAny(p, "=/[]\\\x00") {
			bad("accept_env", "%q: want a variable name, with * and ? as wildcards", p)
		}
	}
	if f.AuditCheckpoint > 0 && f.AuditCheckpoint < MinAuditCheckpoint {
		bad("audit_checkpoint", "%v is below %v", f.AuditCheckpoint, MinAuditCheckpoint)
	}
	if f.MaxStartups != "" {
		if _, err := ParseMaxStartups(f.MaxStartups); err != nil {
			bad("max_startups", "%v", err)
		}
	}
	for _, d := range f.durations() {
		if d.val < 0 {
			bad(d.key, "negative duration %v", d.val)
		}
	}
	for _, n := range f.counts() {
		if n.val < 0 && !(n.key == "per_source_max" && n.val == -1) {
			bad(n.key, "negative value %d", n.val)
		}
	}
	if p := f.Penalty; p.Max > 0 && p.Min > p.Max {
		bad("penalty.min", "%v is above penalty.max %v", p.Min, p.Max)
	}
	for _, e := range f.Penalty.Exempt {
		if _, err := ParseSourcePrefix(e); err != nil {
			bad("penalty.exempt", "%v", err)
		}
	}
	return probs
}

// keyed is a value with its TOML key, in file order for stable messages.
type keyed[T any] struct {
	key string
	val T
}

func (f ServerFile) durations() []keyed[time.Duration] {
	return []keyed[time.Duration]{
		{"grace", f.Grace}, {"audit_checkpoint", f.AuditCheckpoint}, {"login_grace", f.LoginGrace}, {"idle_timeout", f.IdleTimeout}, {"keepalive", f.Keepalive},
		{"job_ttl", f.JobTTL}, {"resume_window", f.ResumeWindow},
		{"penalty.auth_failure", f.Penalty.AuthFailure}, {"penalty.grace_expired", f.Penalty.GraceExpired},
		{"penalty.protocol_violation", f.Penalty.ProtocolViolation}, {"penalty.min", f.Penalty.Min},
		{"penalty.max", f.Penalty.Max}, {"syn_watch.interval", f.SYNWatch.Interval},
	}
}

func (f ServerFile) counts() []keyed[int] {
	return []keyed[int]{
		{"per_source_max", f.PerSourceMax}, {"max_sessions", f.MaxSessions}, {"max_sessions_per_key", f.MaxSessionsPerKey},
		{"penalty.max_sources", f.Penalty.MaxSources}, {"syn_watch.half_open_threshold", f.SYNWatch.HalfOpenThreshold},
		{"syn_watch.counter_rise", f.SYNWatch.CounterRise},
		{"job_spool_max", f.JobSpoolMax}, {"jobs_spool_total", f.JobsSpoolTotal}, {"resume_buffer", f.ResumeBuffer},
	}
}

// isUserSpec reports whether s can name an account: a uid (digits that
// fit 32 bits) or a user name, which has no spaces or control characters
// and does not start with '-'. Whether the account exists is the daemon's
// question, asked when it starts.
func isUserSpec(s string) bool {
	if s == "" || s[0] == '-' {
		return false
	}
	if strings.Trim(s, "0123456789") == "" {
		_, err := strconv.ParseUint(s, 10, 32)
		return err == nil
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == ':' {
			return false
		}
	}
	return true
}

// checkHostPort accepts "host:port" with a numeric port.
func checkHostPort(a string) error {
	_, port, err := net.SplitHostPort(a)
	if err != nil {
		return err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

// ParseMaxStartups parses "start:rate:full" (0 < start <= full,
// 0 <= rate <= 100) or a single number "full", meaning no early drop
// before full.
func ParseMaxStartups(s string) (MaxStartups, error) {
	parts := strings.Split(s, ":")
	nums := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return MaxStartups{}, fmt.Errorf("%q: want start:rate:full or full, non-negative integers", s)
		}
		nums[i] = n
	}
	var m MaxStartups
	switch len(nums) {
	case 1:
		m = MaxStartups{Start: nums[0], Rate: 100, Full: nums[0]}
	case 3:
		m = MaxStartups{Start: nums[0], Rate: nums[1], Full: nums[2]}
	default:
		return MaxStartups{}, fmt.Errorf("%q: want start:rate:full or full", s)
	}
	if m.Start < 1 || m.Start > m.Full || m.Rate > 100 {
		return MaxStartups{}, fmt.Errorf("%q: want 0 < start <= full and rate <= 100", s)
	}
	return m, nil
}

// ParseSourcePrefix parses an address ("192.0.2.7", "2001:db8::1") or a
// CIDR ("10.0.0.0/8") as a prefix; a bare address is a /32 or /128.
func ParseSourcePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q: want an address or CIDR", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}
