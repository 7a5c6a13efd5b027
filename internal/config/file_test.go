package config

import (
	"errors"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLoadServerFileGood(t *testing.T) {
	got, err := LoadServerFile(filepath.Join("testdata", "server_good.toml"))
	if err != nil {
		t.Fatal(err)
	}
	want := ServerFile{
		Listen:       []string{"0.0.0.0:7022", "[::]:7022"},
		LegacyListen: "127.0.0.1:7000", LegacyAllowUsers: []string{"deploy", "1001"},
		LegacyAllowFrom: []string{"192.0.2.0/24"}, LegacyEncoding: "gbk", Grace: 45 * time.Second, LogFormat: "json",
		Metrics: "127.0.0.1:9122", AuditLog: "/var/log/rexec/audit.log", AuditSync: "end",
		AuditRedact:     []string{"*TOKEN*", "*SECRET*", "*PASSWORD*", "*KEY*", "PGPASS*"},
		AuditCheckpoint: 5 * time.Minute,
		LoginGrace:      20 * time.Second, MaxStartups: "10:30:100", PerSourceMax: 10,
		IdleTimeout: time.Hour, Keepalive: 15 * time.Second, MaxSessions: 256, MaxSessionsPerKey: 32, NoResumption: true,
		Penalty: PenaltyFile{AuthFailure: 5 * time.Second, GraceExpired: 20 * time.Second,
			ProtocolViolation: 20 * time.Second, Min: 15 * time.Second, Max: 10 * time.Minute,
			MaxSources: 65536, Exempt: []string{"127.0.0.1", "10.0.0.0/8", "2001:db8::/32"}},
		SYNWatch: SYNWatchFile{Interval: time.Second, HalfOpenThreshold: 64, CounterRise: 16},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LoadServerFile(good) =\n%+v\nwant\n%+v", got, want)
	}
}

func TestLoadServerFileEmpty(t *testing.T) {
	got, err := LoadServerFile(filepath.Join("testdata", "server_empty.toml"))
	if err != nil || !reflect.DeepEqual(got, ServerFile{}) {
		t.Fatalf("LoadServerFile(empty) = %+v, %v, want the zero ServerFile", got, err)
	}
}

func TestLoadServerFileErrors(t *testing.T) {
	cases := []struct {
		file  string
		parts []string // each must appear in the error
	}{
		{"server_unknown.toml", []string{"unknown keys", "max_startup", "penalty.authfail", "extra"}},
		{"server_bad_duration.toml", []string{"grace", "5 parsecs"}},
		{"server_int_duration.toml", []string{"login_grace", `duration string such as "30s"`, "integer"}},
		{"server_invalid.toml", []string{
			`listen: "127.0.0.1"`, `listen: "localhost:http": port "http"`, `metrics: "9122"`,
			`log_format: "yaml"`, `audit_sync: "sometimes"`, "audit_redact: empty pattern",
			"audit_checkpoint: 10ms is below 1s", `max_startups: "100:30:10"`,
			"per_source_max: negative", "grace: negative", "penalty.min: 10m0s is above penalty.max 1m0s",
			`penalty.exempt: "10.0.0.0/33"`, `legacy_allow_users: "bad user"`, `legacy_allow_users: "-x"`,
			`legacy_allow_users: "4294967296"`, `legacy_allow_from: "192.0.2.0/40"`, `legacy_encoding: "latin1"`}},
		{"server_bad_syntax.toml", []string{"server_bad_syntax.toml", "line 1"}},
		{"server_wrong_type.toml", []string{"listen"}},
		{"missing.toml", []string{"missing.toml"}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			path := filepath.Join("testdata", c.file)
			_, err := LoadServerFile(path)
			if !errors.Is(err, ErrServerFile) {
				t.Fatalf("LoadServerFile(%s) = %v, want an error wrapping ErrServerFile", c.file, err)
			}
			for _, p := range c.parts {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error %q does not mention %q", err, p)
				}
			}
		})
	}
}

// TestValidateCoversEveryField: every duration and count field of
// ServerFile is range-checked, so a field added later cannot skip it.
func TestValidateCoversEveryField(t *testing.T) {
	var f ServerFile
	var durs, ints []string
	for _, d := range f.durations() {
		durs = append(durs, d.key)
	}
	for _, n := range f.counts() {
		ints = append(ints, n.key)
	}
	wantDurs := slices.Sorted(func(yield func(string) bool) {
		for k := range durationKeys(reflect.TypeFor[ServerFile](), "") {
			if !yield(k) {
				return
			}
		}
	})
	slices.Sort(durs)
	if !slices.Equal(durs, wantDurs) {
		t.Errorf("durations() covers %v, the struct has %v", durs, wantDurs)
	}
	nInts := 0
	for _, typ := range []reflect.Type{reflect.TypeFor[ServerFile](), reflect.TypeFor[PenaltyFile](), reflect.TypeFor[SYNWatchFile]()} {
		for fld := range typ.Fields() {
			if fld.Type.Kind() == reflect.Int {
				nInts++
			}
		}
	}
	if len(ints) != nInts {
		t.Errorf("counts() covers %d int fields, the structs have %d", len(ints), nInts)
	}
}

func TestParseMaxStartups(t *testing.T) {
	cases := []struct {
		in   string
		want MaxStartups
		ok   bool
	}{
		{"10:30:100", MaxStartups{10, 30, 100}, true},
		{"1:0:1", MaxStartups{1, 0, 1}, true},
		{"64", MaxStartups{64, 100, 64}, true},
		{"10:100:10", MaxStartups{10, 100, 10}, true},
		{"0:30:100", MaxStartups{}, false},
		{"100:30:10", MaxStartups{}, false},
		{"10:101:100", MaxStartups{}, false},
		{"10:30", MaxStartups{}, false},
		{"10:-1:100", MaxStartups{}, false},
		{"a:b:c", MaxStartups{}, false},
		{"", MaxStartups{}, false},
		{"0", MaxStartups{}, false},
	}
	for _, c := range cases {
		got, err := ParseMaxStartups(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseMaxStartups(%q) = %+v, %v, want %+v, ok %v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestParseSourcePrefix(t *testing.T) {
	cases := []struct{ in, want string }{
		{"192.0.2.7", "192.0.2.7/32"},
		{"10.1.2.3/8", "10.0.0.0/8"},
		{"2001:db8::1", "2001:db8::1/128"},
		{"2001:db8::1/64", "2001:db8::/64"},
		{"::ffff:192.0.2.7", "192.0.2.7/32"},
		{"10.0.0.0/33", ""},
		{"host.example", ""},
	}
	for _, c := range cases {
		got, err := ParseSourcePrefix(c.in)
		if c.want == "" {
			if err == nil {
				t.Errorf("ParseSourcePrefix(%q) = %v, want an error", c.in, got)
			}
			continue
		}
		if err != nil || got != netip.MustParsePrefix(c.want) {
			t.Errorf("ParseSourcePrefix(%q) = %v, %v, want %s", c.in, got, err, c.want)
		}
	}
}

func TestValidate(t *testing.T) {
	if err := (ServerFile{}).Validate(); err != nil {
		t.Errorf("zero ServerFile: %v", err)
	}
	err := ServerFile{MaxSessions: -1, Keepalive: -time.Second}.Validate()
	if !errors.Is(err, ErrServerFile) || !strings.Contains(err.Error(), "keepalive: negative duration -1s; max_sessions: negative value -1") {
		t.Errorf("Validate = %v, want both problems on one line", err)
	}
}
