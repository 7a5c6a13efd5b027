package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestFlagNames pins the flag of every ServerFile field: each field has
// the flag named here or is file-only (flag:"-"), and no flag names two
// fields. cli's tests check that `rexec serve` defines exactly these.
func TestFlagNames(t *testing.T) {
	want := []string{
		"listen", "legacy-listen", "legacy-allow-remote", "grace", "log-format", "metrics",
		"audit-log", "audit-sync", "audit-redact", "audit-checkpoint",
		"legacy-allow-user", "legacy-allow-from", "legacy-encoding",
		"login-grace", "max-startups", "per-source-max", "idle-timeout", "keepalive",
		"max-sessions", "max-sessions-per-key", "no-resumption", "accept-env",
		"job-spool-max", "jobs-spool-total", "job-ttl", "resume-window", "resume-buffer",
		"penalty-exempt",
	}
	fileOnly := []string{"penalty.auth_failure", "penalty.grace_expired", "penalty.protocol_violation",
		"penalty.min", "penalty.max", "penalty.max_sources", "syn_watch", "accounts"}
	got := FlagNames()
	if !slices.Equal(got, want) {
		t.Errorf("FlagNames() =\n%q\nwant\n%q", got, want)
	}
	flagRE := regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
	seen := map[string]bool{}
	for _, n := range got {
		if !flagRE.MatchString(n) || seen[n] {
			t.Errorf("flag %q: not a flag name, or given to two fields", n)
		}
		seen[n] = true
	}
	// Every field is accounted for: a leaf with a flag, or file-only.
	var leaves, noFlag []string
	var walk func(t reflect.Type, prefix string, inherited bool)
	walk = func(t reflect.Type, prefix string, inherited bool) {
		for sf := range t.Fields() {
			key := prefix + strings.Split(sf.Tag.Get("toml"), ",")[0]
			none := inherited || sf.Tag.Get("flag") == "-"
			if none && !inherited {
				noFlag = append(noFlag, key)
			}
			if sf.Type.Kind() == reflect.Struct {
				walk(sf.Type, key+".", none)
				continue
			}
			if !none {
				leaves = append(leaves, key)
			}
		}
	}
	walk(reflect.TypeFor[ServerFile](), "", false)
	if len(leaves) != len(got) {
		t.Errorf("%d fields have a flag, FlagNames lists %d", len(leaves), len(got))
	}
	if !slices.Equal(noFlag, fileOnly) {
		t.Errorf("file-only settings = %q, want %q", noFlag, fileOnly)
	}
}

func TestFlagsOver(t *testing.T) {
	defaults := ServerFile{Grace: 30 * time.Second, LogFormat: "auto", MaxSessions: 64,
		AcceptEnv: []string{"LANG"}, LegacyEncoding: "utf-8"}
	withFlag := func(f func(*ServerFile)) ServerFile {
		v := defaults
		f(&v)
		return v
	}
	tests := []struct {
		name  string
		file  ServerFile
		flags ServerFile
		set   []string
		want  ServerFile
	}{
		{"empty file takes the defaults", ServerFile{}, defaults, nil, defaults},
		{"file wins over a default", ServerFile{MaxSessions: 5, LogFormat: "json"}, defaults, nil,
			withFlag(func(s *ServerFile) { s.MaxSessions, s.LogFormat = 5, "json" })},
		{"a set flag wins over the file", ServerFile{MaxSessions: 5},
			withFlag(func(s *ServerFile) { s.MaxSessions = 9 }), []string{"max-sessions"},
			withFlag(func(s *ServerFile) { s.MaxSessions = 9 })},
		{"a set flag at its default still wins", ServerFile{MaxSessions: 5}, defaults, []string{"max-sessions"}, defaults},
		{"a flag tag names the flag", ServerFile{LegacyAllowUsers: []string{"a"}},
			withFlag(func(s *ServerFile) { s.LegacyAllowUsers = []string{"b"} }), []string{"legacy-allow-user"},
			withFlag(func(s *ServerFile) { s.LegacyAllowUsers = []string{"b"} })},
		{"the toml key is not the flag", ServerFile{LegacyAllowUsers: []string{"a"}},
			withFlag(func(s *ServerFile) { s.LegacyAllowUsers = []string{"b"} }), []string{"legacy-allow-users"},
			withFlag(func(s *ServerFile) { s.LegacyAllowUsers = []string{"a"} })},
		{"a nested field's flag has its table's prefix", ServerFile{Penalty: PenaltyFile{Exempt: []string{"10.0.0.1"}}},
			withFlag(func(s *ServerFile) { s.Penalty.Exempt = []string{"10.0.0.2"} }), []string{"penalty-exempt"},
			withFlag(func(s *ServerFile) { s.Penalty.Exempt = []string{"10.0.0.2"} })},
		{"file-only fields keep the file's", ServerFile{Penalty: PenaltyFile{Min: time.Second}, SYNWatch: SYNWatchFile{Interval: time.Second}},
			withFlag(func(s *ServerFile) { s.Penalty.Min, s.SYNWatch.Interval = time.Hour, time.Hour }),
			[]string{"penalty-min", "syn-watch-interval"},
			withFlag(func(s *ServerFile) { s.Penalty.Min, s.SYNWatch.Interval = time.Second, time.Second })},
		{"no flags: the file as it is", ServerFile{MaxSessions: 5}, ServerFile{}, nil, ServerFile{MaxSessions: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Flags{Values: tt.flags, Set: func(name string) bool { return slices.Contains(tt.set, name) }}
			if got := f.Over(tt.file); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Over =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
	if got := (Flags{Values: defaults}).Over(ServerFile{MaxSessions: 5}); got.MaxSessions != 5 || got.Grace != defaults.Grace {
		t.Errorf("Over with a nil Set = %+v", got)
	}
}

func TestChangedSettings(t *testing.T) {
	base := ServerFile{MaxSessions: 1, Listen: []string{"127.0.0.1:7022"}, Penalty: PenaltyFile{Min: time.Second}}
	tests := []struct {
		name string
		b    func(*ServerFile)
		want []string
	}{
		{"nothing", func(*ServerFile) {}, nil},
		{"one key", func(s *ServerFile) { s.MaxSessions = 5 }, []string{"max_sessions"}},
		{"in field order", func(s *ServerFile) { s.IdleTimeout, s.Listen = time.Hour, nil },
			[]string{"listen", "idle_timeout"}},
		{"a table counts once", func(s *ServerFile) { s.Penalty.Min, s.Penalty.Max = 2*time.Second, time.Hour },
			[]string{"penalty"}},
		{"slices by content", func(s *ServerFile) { s.Listen = []string{"127.0.0.1:7022"} }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := base
			b.Listen = slices.Clone(base.Listen)
			tt.b(&b)
			if got := ChangedSettings(base, b); !slices.Equal(got, tt.want) {
				t.Errorf("ChangedSettings = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoadServerSettings(t *testing.T) {
	flags := Flags{Values: ServerFile{MaxSessions: 64, Grace: time.Minute},
		Set: func(name string) bool { return name == "grace" }}
	withConfig := Home{Dir: t.TempDir()}
	if err := os.WriteFile(withConfig.Path(ConfigFile), []byte("max_sessions = 3\ngrace = \"5s\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "other.toml")
	if err := os.WriteFile(other, []byte("max_sessions = 7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := Home{Dir: t.TempDir()}
	tests := []struct {
		name     string
		home     Home
		path     string
		flags    Flags
		want     ServerFile
		wantPath string
		wantErr  error
	}{
		{"home's config.toml, flags over it", withConfig, "", flags,
			ServerFile{MaxSessions: 3, Grace: time.Minute}, withConfig.Path(ConfigFile), nil},
		{"an explicit file", withConfig, other, flags, ServerFile{MaxSessions: 7, Grace: time.Minute}, other, nil},
		{"no file: the flags alone", empty, "", flags, ServerFile{MaxSessions: 64, Grace: time.Minute}, "", nil},
		{"a missing explicit file", empty, filepath.Join(empty.Dir, "missing.toml"), flags, ServerFile{},
			filepath.Join(empty.Dir, "missing.toml"), fs.ErrNotExist},
		{"flags are validated", empty, "", Flags{Values: ServerFile{MaxSessions: -1}}, ServerFile{MaxSessions: -1}, "", ErrServerFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, path, err := tt.home.LoadServerSettings(tt.path, tt.flags)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) || path != tt.wantPath {
				t.Errorf("= %+v, %q; want %+v, %q", got, path, tt.want, tt.wantPath)
			}
		})
	}
}
