package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var clientFileCases = []struct {
	name string
	toml string
	want ClientFile
	err  string
}{
	{"empty", "", ClientFile{}, ""},
	{"one host", "[hosts.web]\nhostname = \"h.example\"\nuser = \"u\"\nport = 7100\nidentity = \"/k\"\nconnect_timeout = \"3s\"\n",
		ClientFile{Hosts: map[string]ClientHost{"web": {HostName: "h.example", User: "u", Port: 7100, Identity: "/k", ConnectTimeout: 3 * time.Second}}}, ""},
	{"unknown key", "[hosts.web]\nhostnam = \"x\"\n", ClientFile{}, "unknown keys: hosts.web.hostnam"},
	{"bare number timeout", "[hosts.web]\nconnect_timeout = 5\n", ClientFile{}, "duration string"},
	{"port out of range", "[hosts.web]\nport = 70000\n", ClientFile{}, "out of range"},
	{"not toml", "[hosts\n", ClientFile{}, "bad client config"},
}

func TestLoadClientFile(t *testing.T) {
	for _, tc := range clientFileCases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), ClientConfigFile)
			os.WriteFile(path, []byte(tc.toml), 0o600)
			got, err := LoadClientFile(path)
			if tc.err != "" {
				if !errors.Is(err, ErrClientFile) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("LoadClientFile = %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("LoadClientFile = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
	if f, err := LoadClientFile(filepath.Join(t.TempDir(), "missing")); err != nil || f.Hosts != nil {
		t.Fatalf("a missing file = %+v, %v", f, err)
	}
}

func TestLoadSSHConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	os.WriteFile(path, []byte("Host web\n  HostName %h.example\n  User deploy\n  Port 22\n  IdentityFile /a\n  IdentityFile /b\nHost *\n  User other\n"), 0o600)
	got, err := LoadSSHConfig(path, "web")
	want := SSHHost{HostName: "web.example", User: "deploy", Identities: []string{"/a", "/b"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("LoadSSHConfig(web) = %+v, %v; want %+v", got, err, want)
	}
	if got, _ := LoadSSHConfig(path, "db"); got.User != "other" || got.HostName != "" {
		t.Fatalf("LoadSSHConfig(db) = %+v", got)
	}
}

// FuzzClientFile: no client.toml panics the loader.
func FuzzClientFile(f *testing.F) {
	for _, tc := range clientFileCases {
		f.Add(tc.toml)
	}
	f.Fuzz(func(t *testing.T, s string) {
		path := filepath.Join(t.TempDir(), ClientConfigFile)
		os.WriteFile(path, []byte(s), 0o600)
		if cf, err := LoadClientFile(path); err == nil {
			for _, h := range cf.Hosts {
				if h.Port < 0 || h.Port > 65535 {
					t.Fatalf("accepted port %d", h.Port)
				}
			}
		}
	})
}

// FuzzSSHConfig: no OpenSSH client configuration panics the reader.
func FuzzSSHConfig(f *testing.F) {
	f.Add("Host web\n  HostName h\n  User u\n")
	f.Add("Host *\n  IdentityFile ~/.ssh/id\nMatch all\n")
	f.Fuzz(func(t *testing.T, s string) {
		path := filepath.Join(t.TempDir(), "config")
		os.WriteFile(path, []byte(s), 0o600)
		LoadSSHConfig(path, "web")
	})
}
