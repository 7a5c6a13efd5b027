package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"slices"
	"testing"
)

func hashed(v string) string {
	sum := sha256.Sum256([]byte(v))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func TestRedactEnv(t *testing.T) {
	env := map[string]string{
		"LANG":                  "C.UTF-8",
		"API_TOKEN":             "tok-123",
		"aws_secret_access_key": "wJalrXUtnFEMI",
		"PGPASSWORD":            "hunter2",
		"SSH_KEY":               "k",
		"KEY":                   "",
		"TOKENIZER":             "spaces",
		"EQ":                    "a=b",
		"A":                     "1",
		"A_B":                   "2",
	}
	tests := []struct {
		name     string
		env      map[string]string
		patterns []string
		want     []string
	}{
		{"defaults", env, DefaultRedact, []string{
			"A=1", "API_TOKEN=" + hashed("tok-123"), "A_B=2", "EQ=a=b", "KEY=" + hashed(""), "LANG=C.UTF-8",
			"PGPASSWORD=" + hashed("hunter2"), "SSH_KEY=" + hashed("k"), "TOKENIZER=" + hashed("spaces"),
			"aws_secret_access_key=" + hashed("wJalrXUtnFEMI")}},
		{"no patterns", map[string]string{"API_TOKEN": "x", "B": "y"}, nil, []string{"API_TOKEN=x", "B=y"}},
		{"exact name, any case", map[string]string{"lang": "x", "LANGUAGE": "y"}, []string{"LANG"},
			[]string{"LANGUAGE=y", "lang=" + hashed("x")}},
		{"prefix and suffix", map[string]string{"DB_PASS": "1", "PASS_DB": "2", "XPASSX": "3"}, []string{"*_PASS", "PASS_*"},
			[]string{"DB_PASS=" + hashed("1"), "PASS_DB=" + hashed("2"), "XPASSX=3"}},
		{"star in the middle", map[string]string{"AXXB": "1", "AB": "2", "ABC": "3"}, []string{"A*B"},
			[]string{"AB=" + hashed("2"), "ABC=3", "AXXB=" + hashed("1")}},
		{"question mark is literal", map[string]string{"AB": "1", "A?": "2"}, []string{"A?"},
			[]string{"A?=" + hashed("2"), "AB=1"}},
		{"star alone matches all", map[string]string{"A": "1", "B": "2"}, []string{"*"},
			[]string{"A=" + hashed("1"), "B=" + hashed("2")}},
		{"empty", nil, DefaultRedact, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RedactEnv(tt.env, tt.patterns); !slices.Equal(got, tt.want) {
				t.Errorf("RedactEnv = %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestRedactedNotInFile: secret values never reach the file in clear.
func TestRedactedNotInFile(t *testing.T) {
	secrets := map[string]string{"GITHUB_TOKEN": "ghp_s3cr3tvalue", "DB_PASSWORD": "correct horse",
		"MY_SECRET": "xyzzy-0042", "PRIVATE_KEY": "-----BEGIN"}
	env := map[string]string{"TERM": "xterm-plain"}
	for k, v := range secrets {
		env[k] = v
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(Record{Event: EventStart, Env: RedactEnv(env, DefaultRedact)}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	data := mustRead(t, path)
	for k, v := range secrets {
		if bytes.Contains(data, []byte(v)) {
			t.Errorf("the value of %s is in the log in clear:\n%s", k, data)
		}
		if !bytes.Contains(data, []byte(k+"="+hashed(v))) {
			t.Errorf("the log lacks %s's hashed value:\n%s", k, data)
		}
	}
	if !bytes.Contains(data, []byte("TERM=xterm-plain")) {
		t.Errorf("an ordinary value is missing:\n%s", data)
	}
}

func FuzzStarMatch(f *testing.F) {
	f.Add("*TOKEN*", "API_TOKEN")
	f.Add("A*B*C", "AXBXXC")
	f.Add("**", "")
	f.Fuzz(func(t *testing.T, pat, s string) {
		got := starMatch(pat, s)
		if !starMatch("*", s) || !starMatch(s, s) {
			t.Fatal("* or the string itself does not match")
		}
		if want := starRef(pat, s); got != want {
			t.Fatalf("starMatch(%q, %q) = %v, reference %v", pat, s, got, want)
		}
	})
}

// starRef is the textbook dynamic-programming matcher: m[i][j] says
// whether pat[i:] matches s[j:].
func starRef(pat, s string) bool {
	m := make([][]bool, len(pat)+1)
	for i := range m {
		m[i] = make([]bool, len(s)+1)
	}
	m[len(pat)][len(s)] = true
	for i := len(pat) - 1; i >= 0; i-- {
		for j := len(s); j >= 0; j-- {
			if pat[i] == '*' {
				m[i][j] = m[i+1][j] || j < len(s) && m[i][j+1]
			} else {
				m[i][j] = j < len(s) && pat[i] == s[j] && m[i+1][j+1]
			}
		}
	}
	return m[0][0]
}
