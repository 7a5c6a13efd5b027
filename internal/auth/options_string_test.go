package auth

import (
	"reflect"
	"strings"
	"testing"
)

// optionsStringTests map an option list to its canonical rendering.
var optionsStringTests = []struct {
	in, want string
}{
	{"", ""},
	{"no-pty", "no-pty"},
	{"no-file-transfer,no-pty", "no-pty,no-file-transfer"},
	{"restrict", "restrict"},
	{"restrict,no-pty", "restrict"},
	{"pty,restrict", "restrict,pty"},
	{"restrict,file-transfer,pty", "restrict,pty,file-transfer"},
	{"restrict,no-pty,pty", "restrict"},
	{"pty,file-transfer", ""},
	{"no-port-forwarding,no-agent-forwarding,no-X11-forwarding,permitopen=\"h:1\"", ""},
	{`command="echo \"hi there\", ok"`, `command="echo \"hi there\", ok"`},
	{`command=""`, `command=""`},
	{`command="a\\b\n"`, `command="a\\b\n"`},
	{`command="a\\""`, `command="a\\""`},
	{`command="x y",no-pty`, `no-pty,command="x y"`},
	{`COMMAND="ls"`, `command="ls"`},
	{`from="10.0.0.0/8,!10.1.2.3,::1/128,*.example.com"`, `from="10.0.0.0/8,!10.1.2.3,::1/128,*.example.com"`},
	{`environment="A=1",environment="B=x y",environment="C="`, `environment="A=1",environment="B=x y",environment="C="`},
	{`environment="Q=\"q\""`, `environment="Q=\"q\""`},
	{`allow="ls *,uptime",allow="echo a\,b"`, `allow="ls *,uptime,echo a\,b"`},
	{`allow="a\"b"`, `allow="a\"b"`},
	{`allow="x",restrict,pty,environment="A=1",from="127.0.0.1",command="c"`,
		`restrict,pty,command="c",from="127.0.0.1",environment="A=1",allow="x"`},
}

// TestKeyOptionsString: each option list renders canonically, and the
// rendering parses back to the same options, also as part of a whole
// authorized_keys line, and renders to itself.
func TestKeyOptionsString(t *testing.T) {
	for _, tt := range optionsStringTests {
		o, err := parseOptions(tt.in)
		if err != nil {
			t.Fatalf("parseOptions(%q): %v", tt.in, err)
		}
		got := o.String()
		if got != tt.want {
			t.Errorf("KeyOptions(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
		checkRoundTrip(t, o)
	}
	for _, tt := range authorizedLineTests {
		if tt.warn == "" {
			checkRoundTrip(t, tt.opts)
		}
	}
}

// checkRoundTrip parses o.String() on its own and at the head of a line.
func checkRoundTrip(t testing.TB, o KeyOptions) {
	t.Helper()
	s := o.String()
	again, err := parseOptions(s)
	if err != nil || !reflect.DeepEqual(again, o) {
		t.Fatalf("parseOptions(%q) = %+v, %v; want %+v", s, again, err, o)
	}
	if again.String() != s {
		t.Fatalf("rendering is not stable: %q, then %q", s, again.String())
	}
	if strings.Contains(s, "\n") {
		return // parseOptions takes it; a file's line cannot hold it
	}
	line := strings.TrimPrefix(s+" ssh-ed25519 "+fixtureB64+" c", " ")
	keys, warnings := ParseAuthorizedKeys([]byte(line))
	if len(keys.Keys) != 1 || len(warnings) != 0 || !reflect.DeepEqual(keys.Keys[0].Options, o) {
		t.Fatalf("line %q parses to %+v, %q; want options %+v", line, keys.Keys, warnings, o)
	}
}

// FuzzKeyOptionsString: whatever option list parses renders to a string
// that parses back to the same options.
func FuzzKeyOptionsString(f *testing.F) {
	for _, tt := range optionsStringTests {
		f.Add(tt.in)
	}
	for _, tt := range authorizedLineTests {
		opts, _ := splitOptionsField(tt.line)
		f.Add(opts)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := parseOptions(s)
		if err != nil {
			return
		}
		checkRoundTrip(t, o)
	})
}
