package account

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fixture writes passwd, group, shadow and login.defs databases.
func fixture(t *testing.T) DB {
	t.Helper()
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return DB{
		Passwd: write("passwd", `root:x:0:0:root:/root:/bin/bash
# a comment
alice:x:1001:1001:Alice:/home/alice:/bin/bash
bob:x:1002:1002::/home/bob:
nolog:x:1003:1003::/home/nolog:/usr/sbin/nologin
falsy:x:1004:1004::/:/bin/false
locked:x:1005:1005::/home/locked:/bin/sh
expired:x:1006:1006::/home/expired:/bin/sh
ghost:x:1007:1007::/home/ghost:/nonexistent/shell
+nis
broken:x:notanumber:1:::
`),
		Group: write("group", `root:x:0:
alice:x:1001:
bob:x:1002:
wheel:x:10:alice,carol
staff:x:50:bob,alice
empty:x:60:
`),
		Shadow: write("shadow", `alice:$6$x:19000:0:99999:7:::
locked:!$6$x:19000:0:99999:7:::
expired:*:19000:0:99999:7::19001:
bob:*:19000:0:99999:7:::
`),
		LoginDefs: write("login.defs", "ENV_SUPATH\tPATH=/sbin:/bin\nENV_PATH PATH=/usr/bin:/bin:/opt/bin\n"),
	}
}

func TestLookup(t *testing.T) {
	db := fixture(t)
	a, err := db.Lookup("alice")
	if err != nil {
		t.Fatal(err)
	}
	if a.UID != 1001 || a.GID != 1001 || a.Group != "alice" || a.Home != "/home/alice" || a.Shell != "/bin/bash" ||
		!slices.Equal(a.Groups, []int{10, 50}) {
		t.Errorf("Lookup(alice) = %+v", a)
	}
	if b, _ := db.Lookup("bob"); b.LoginShell() != DefaultShell {
		t.Errorf("bob's empty shell = %q, want %s", b.LoginShell(), DefaultShell)
	}
	for _, name := range []string{"carol", "nis", "+nis", "broken"} {
		if _, err := db.Lookup(name); err == nil {
			t.Errorf("Lookup(%q) succeeded", name)
		}
	}
	if _, err := db.Lookup("carol"); !errors.Is(err, ErrUnknown) {
		t.Errorf("Lookup(carol) = %v, want ErrUnknown", err)
	}
	if r, err := db.LookupUID(0); err != nil || r.Name != "root" {
		t.Errorf("LookupUID(0) = %+v, %v", r, err)
	}
	if names, _ := db.GroupNames(a); !slices.Equal(names, []string{"alice", "wheel", "staff"}) {
		t.Errorf("GroupNames(alice) = %q", names)
	}
}

func TestValidName(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"alice", true}, {"a.b_c-d", true}, {"Alice", true}, {"host$", true}, {"a1", true},
		{"", false}, {"a/b", false}, {"..", false}, {"a..b", false}, {".hidden", false}, {"-x", false},
		{"a\x00b", false}, {"a b", false}, {strings.Repeat("a", 300), false}, {strings.Repeat("a", 33), false},
		{"1234", false}, {"0", false}, {"a$b", false}, {"é", false}, {"a:b", false}, {"a\nb", false},
	} {
		if err := ValidName(tt.name); (err == nil) != tt.ok {
			t.Errorf("ValidName(%q) = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

func FuzzValidName(f *testing.F) {
	for _, s := range []string{"alice", "a/b", "..", "1234", "host$", strings.Repeat("x", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidName(name) != nil {
			return
		}
		if len(name) > MaxNameLen || strings.ContainsAny(name, "/\x00 :\n") || strings.Contains(name, "..") ||
			strings.Trim(name, "0123456789") == "" || name[0] == '-' || name[0] == '.' {
			t.Fatalf("ValidName(%q) accepted an unsafe name", name)
		}
	})
}

func TestCheck(t *testing.T) {
	db := fixture(t)
	now := time.Unix(19500*86400, 0)
	for _, tt := range []struct {
		name string
		want error
	}{
		{"alice", nil}, {"bob", nil}, {"root", nil},
		{"nolog", ErrNoLogin}, {"falsy", ErrNoLogin}, {"ghost", ErrNoLogin},
		{"locked", ErrLocked}, {"expired", ErrExpired},
	} {
		a, err := db.Lookup(tt.name)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Check(a, now); !errors.Is(err, tt.want) && (err != nil || tt.want != nil) {
			t.Errorf("Check(%s) = %v, want %v", tt.name, err, tt.want)
		}
	}
	a, _ := db.Lookup("expired")
	if err := db.Check(a, time.Unix(19000*86400, 0)); err != nil {
		t.Errorf("Check(expired) before its date = %v", err)
	}
}

func TestPolicy(t *testing.T) {
	for _, tt := range []struct {
		p      Policy
		name   string
		groups []string
		ok     bool
	}{
		{Policy{}, "alice", nil, true},
		{Policy{DenyUsers: []string{"al*"}}, "alice", nil, false},
		{Policy{AllowUsers: []string{"bob"}}, "alice", nil, false},
		{Policy{AllowUsers: []string{"a?ice"}}, "alice", nil, true},
		{Policy{DenyGroups: []string{"wheel"}}, "alice", []string{"alice", "wheel"}, false},
		{Policy{AllowGroups: []string{"staff"}}, "alice", []string{"alice", "wheel"}, false},
		{Policy{AllowGroups: []string{"staff"}}, "bob", []string{"staff"}, true},
		{Policy{AllowUsers: []string{"bob"}, DenyUsers: []string{"bob"}}, "bob", nil, false},
	} {
		if err := tt.p.Admit(tt.name, tt.groups); (err == nil) != tt.ok {
			t.Errorf("%+v.Admit(%s, %q) = %v, want ok %v", tt.p, tt.name, tt.groups, err, tt.ok)
		}
	}
	if CheckPatterns([]string{"a*", "b?"}) != nil || CheckPatterns([]string{"[a"}) == nil || CheckPatterns([]string{""}) == nil {
		t.Error("CheckPatterns accepts or refuses the wrong patterns")
	}
}

func TestPath(t *testing.T) {
	db := fixture(t)
	root, _ := db.Lookup("root")
	alice, _ := db.Lookup("alice")
	if db.Path(root) != "/sbin:/bin" || db.Path(alice) != "/usr/bin:/bin:/opt/bin" {
		t.Errorf("Path = %q, %q", db.Path(root), db.Path(alice))
	}
	db.LoginDefs = "/nonexistent"
	if db.Path(root) != DefaultRootPath || db.Path(alice) != DefaultPath {
		t.Errorf("default Path = %q, %q", db.Path(root), db.Path(alice))
	}
}

// TestSystemDatabases reads this machine's own files: root exists.
func TestSystemDatabases(t *testing.T) {
	a, err := DB{}.Lookup("root")
	if err != nil || a.UID != 0 {
		t.Fatalf("Lookup(root) = %+v, %v", a, err)
	}
}

func TestUmask(t *testing.T) {
	db := fixture(t)
	os.WriteFile(db.LoginDefs, []byte("UMASK 027\nUSERGROUPS_ENAB yes\n"), 0o600)
	alice, _ := db.Lookup("alice") // 1001:1001, group alice: a user private group
	root, _ := db.Lookup("root")
	if got := db.Umask(alice); got != 0o007 {
		t.Errorf("Umask(alice) = %#o, want 007 (usergroups: group bits = owner bits)", got)
	}
	if got := db.Umask(root); got != 0o027 {
		t.Errorf("Umask(root) = %#o, want 027", got)
	}
	os.WriteFile(db.Passwd, []byte("alice:x:1001:1001:Alice,umask=0077:/home/alice:/bin/bash\n"), 0o600)
	if got := db.Umask(alice); got != 0o077 {
		t.Errorf("Umask with umask=0077 in GECOS = %#o", got)
	}
	db.LoginDefs = "/nonexistent"
	db.Passwd = filepath.Join(t.TempDir(), "none")
	if got := db.Umask(alice); got != DefaultUmask {
		t.Errorf("default Umask = %#o", got)
	}
}
