package auth

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hashedName is a "|1|salt|hash" field for name, as ssh-keygen -H writes.
func hashedName(name string) string {
	salt := []byte("0123456789abcdefghij")
	mac := hmac.New(sha1.New, salt)
	mac.Write([]byte(name))
	return "|1|" + base64.StdEncoding.EncodeToString(salt) + "|" + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func TestKnownHostsRemove(t *testing.T) {
	key := "ssh-ed25519 " + fixtureB64
	tests := []struct {
		name, host string
		port       int
		in, want   string
		removed    []Removed
	}{
		{"whole line", "a.example", 7022, "[a.example]:7022 " + key + "\n", "", []Removed{{1, true}}},
		{"one name of several", "localhost", 7022,
			"[127.0.0.1]:7022,[localhost]:7022 " + key + "\nb " + key + "\n",
			"[127.0.0.1]:7022 " + key + "\nb " + key + "\n", []Removed{{1, false}}},
		{"port 22 is bare", "b", 22, "b " + key + "\n[b]:7022 " + key + "\n", "[b]:7022 " + key + "\n", []Removed{{1, true}}},
		{"another port stays", "b", 7022, "b " + key + "\n", "b " + key + "\n", nil},
		{"hashed", "c", 7022, hashedName("[c]:7022") + " " + key + "\n" + hashedName("d") + " " + key + "\n",
			hashedName("d") + " " + key + "\n", []Removed{{1, true}}},
		{"case of the name", "A.Example", 7022, "[a.example]:7022 " + key + "\n", "", []Removed{{1, true}}},
		{"wildcards and markers stay", "e", 7022,
			"[*]:7022 " + key + "\n@revoked [e]:7022 " + key + "\n# [e]:7022\n",
			"[*]:7022 " + key + "\n@revoked [e]:7022 " + key + "\n# [e]:7022\n", nil},
		{"no final newline", "f", 7022, "x " + key + "\n[f]:7022 " + key, "x " + key + "\n", []Removed{{2, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "known_hosts")
			os.WriteFile(path, []byte(tt.in), 0o644)
			got, err := KnownHosts{Path: path}.Remove(tt.host, tt.port)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.removed) || (len(got) > 0 && got[0] != tt.removed[0]) {
				t.Errorf("Remove = %v, want %v", got, tt.removed)
			}
			b, _ := os.ReadFile(path)
			if string(b) != tt.want {
				t.Errorf("file = %q, want %q", b, tt.want)
			}
			if tt.removed == nil {
				return
			}
			if old, _ := os.ReadFile(path + ".old"); string(old) != tt.in {
				t.Errorf("known_hosts.old = %q, want the original", old)
			}
			if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want 0600", fi.Mode().Perm())
			}
			kh := KnownHosts{Path: path}
			if err := kh.Check(tt.host, tt.port, mustIdentity(t, "x").Public); err != nil && !strings.Contains(err.Error(), "unknown host key") {
				t.Errorf("after Remove the host is still known: %v", err)
			}
		})
	}
}
