package client

import (
	"slices"
	"strings"
	"testing"
)

// parseOperandTests: scp's rule, a colon before any slash makes a remote
// operand; brackets protect an IPv6 address.
var parseOperandTests = []struct {
	in   string
	want Operand
}{
	{"host:path", Operand{Remote: true, Host: "host", Path: "path"}},
	{"host:", Operand{Remote: true, Host: "host"}},
	{"user@host:/abs/p", Operand{Remote: true, Host: "user@host", Path: "/abs/p"}},
	{"[::1]:x", Operand{Remote: true, Host: "[::1]", Path: "x"}},
	{"u@[fe80::1]:x:y", Operand{Remote: true, Host: "u@[fe80::1]", Path: "x:y"}},
	{"h:a:b", Operand{Remote: true, Host: "h", Path: "a:b"}},
	{"web[01-20]:/srv", Operand{Remote: true, Host: "web[01-20]", Path: "/srv"}},
	{"local", Operand{Path: "local"}},
	{"./a:b", Operand{Path: "./a:b"}},
	{"/abs/a:b", Operand{Path: "/abs/a:b"}},
	{"dir/a:b", Operand{Path: "dir/a:b"}},
	{":leading", Operand{Path: ":leading"}},
	{"[::1]", Operand{Path: "[::1]"}},
	{"", Operand{}},
}

func TestParseOperand(t *testing.T) {
	for _, tt := range parseOperandTests {
		if got := ParseOperand(tt.in); got != tt.want {
			t.Errorf("ParseOperand(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

// FuzzParseOperand: whatever the string, a local operand is the string
// itself and a remote one splits it at one colon into a host holding no
// slash and a path.
func FuzzParseOperand(f *testing.F) {
	for _, tt := range parseOperandTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkOperand(t, s, ParseOperand(s))
	})
}

func checkOperand(t *testing.T, s string, op Operand) {
	t.Helper()
	switch {
	case !op.Remote && (op.Host != "" || op.Path != s):
		t.Fatalf("ParseOperand(%q) = %+v: a local operand is the string itself", s, op)
	case op.Remote && (op.Host == "" || op.Host+":"+op.Path != s || strings.Contains(op.Host, "/")):
		t.Fatalf("ParseOperand(%q) = %+v: not HOST:PATH with a host before any slash", s, op)
	}
}

// parseCopyTests: how ParseCopy classifies operands, and its refusals.
var parseCopyTests = []struct {
	name      string
	args      []string
	hostsFile bool
	many      []string // hosts Many says are many
	kind      CopyKind
	srcs      int    // number of sources
	dests     int    // number of Dests (UploadMany)
	err       string // in the error; "" for none
}{
	{"upload", []string{"a", "b", "h:dir"}, false, nil, Upload, 2, 0, ""},
	{"upload to v6", []string{"a", "[::1]:x"}, false, nil, Upload, 1, 0, ""},
	{"download", []string{"h:a", "g:b", "."}, false, nil, Download, 2, 0, ""},
	{"download with a colon in the local name", []string{"h:a", "./x:y"}, false, nil, Download, 1, 0, ""},
	{"several destinations", []string{"a", "h1:/x", "h2:/y"}, false, nil, UploadMany, 1, 2, ""},
	{"a pattern that is many", []string{"a", "web[1-3]:/x"}, false, []string{"web[1-3]"}, UploadMany, 1, 1, ""},
	{"one host that is one", []string{"a", "web1:/x"}, false, []string{"web[1-3]"}, Upload, 1, 0, ""},
	{"hosts file", []string{"a", "b", ":/srv"}, true, nil, UploadMany, 2, 1, ""},
	{"hosts file, empty path", []string{"a", ":"}, true, nil, UploadMany, 1, 1, ""},
	{"local copy", []string{"a", "b"}, false, nil, 0, 0, 0, "no remote operand"},
	{":PATH without --hosts", []string{"a", ":/srv"}, false, nil, 0, 0, 0, "without --hosts write HOST:PATH"},
	{"remote to remote", []string{"h:a", "g:b"}, false, nil, 0, 0, 0, "between two remote hosts"},
	{"mixed sources", []string{"a", "h:b", "c"}, false, nil, 0, 0, 0, "local and remote sources"},
	{"mixed sources to many", []string{"h:a", "b", "g1:c", "g2:d"}, false, nil, 0, 0, 0, "local and remote sources"},
	{"hosts file, HOST:PATH destination", []string{"a", "h:/srv"}, true, nil, 0, 0, 0, "with --hosts the destination is :PATH"},
	{"hosts file, remote source", []string{"h:a", ":/srv"}, true, nil, 0, 0, 0, "every source is local"},
	{"one operand", []string{"h:a"}, false, nil, 0, 0, 0, "a source and a destination"},
	{"none", nil, false, nil, 0, 0, 0, "a source and a destination"},
}

func TestParseCopy(t *testing.T) {
	for _, tt := range parseCopyTests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseCopy(tt.args, CopyRules{HostsFile: tt.hostsFile,
				Many: func(h string) bool { return slices.Contains(tt.many, h) }})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseCopy = %+v, %v; want an error with %q", p, err, tt.err)
				}
				return
			}
			if err != nil || p.Kind != tt.kind || len(p.Sources) != tt.srcs || len(p.Dests) != tt.dests {
				t.Fatalf("ParseCopy = %+v, %v; want kind %d, %d sources, %d dests", p, err, tt.kind, tt.srcs, tt.dests)
			}
			checkPlan(t, tt.args, tt.hostsFile, p)
		})
	}
	// Many is asked only about a single HOST:PATH destination.
	asked := 0
	if _, err := ParseCopy([]string{"a", "h1:x", "h2:y"}, CopyRules{Many: func(string) bool { asked++; return false }}); err != nil || asked != 0 {
		t.Errorf("Many asked %d times about several destinations (err %v)", asked, err)
	}
	if p, err := ParseCopy([]string{"a", "web[1-3]:x"}, CopyRules{}); err != nil || p.Kind != Upload {
		t.Errorf("nil Many: %+v, %v; want an Upload", p, err)
	}
}

// checkPlan holds a plan to what ParseCopy promises: the operands in
// order, uploads from local sources, downloads from remote ones to a
// local destination.
func checkPlan(t *testing.T, args []string, hostsFile bool, p CopyPlan) {
	t.Helper()
	n := len(p.Sources) + len(p.Dests)
	if p.Kind != UploadMany {
		n++
	}
	if n != len(args) {
		t.Fatalf("ParseCopy(%q) = %+v: %d operands for %d arguments", args, p, n, len(args))
	}
	for i, s := range p.Sources {
		if s != ParseOperand(args[i]) || s.Remote != (p.Kind == Download) {
			t.Fatalf("ParseCopy(%q) = %+v: source %d is %+v", args, p, i, s)
		}
	}
	switch p.Kind {
	case Upload:
		if !p.Dest.Remote {
			t.Fatalf("ParseCopy(%q) = %+v: an upload to a local destination", args, p)
		}
	case Download:
		if p.Dest.Remote {
			t.Fatalf("ParseCopy(%q) = %+v: a download to a remote destination", args, p)
		}
	case UploadMany:
		for _, d := range p.Dests {
			if !d.Remote || (d.Host == "") != hostsFile {
				t.Fatalf("ParseCopy(%q, hosts file %v) = %+v: destination %+v", args, hostsFile, p, d)
			}
		}
	default:
		t.Fatalf("ParseCopy(%q) = %+v: no kind", args, p)
	}
}

// FuzzParseCopy: any operands (NUL-separated) either are refused or make
// a plan that keeps ParseCopy's promises (checkPlan); nothing panics.
func FuzzParseCopy(f *testing.F) {
	for _, tt := range parseCopyTests {
		f.Add(strings.Join(tt.args, "\x00"), tt.hostsFile, strings.Join(tt.many, "\x00"))
	}
	f.Fuzz(func(t *testing.T, args string, hostsFile bool, many string) {
		list := strings.Split(args, "\x00")
		p, err := ParseCopy(list, CopyRules{HostsFile: hostsFile,
			Many: func(h string) bool { return slices.Contains(strings.Split(many, "\x00"), h) }})
		if err == nil {
			checkPlan(t, list, hostsFile, p)
		} else if strings.ContainsAny(err.Error(), "\n\r") {
			t.Fatalf("ParseCopy(%q): a multi-line error %q", list, err)
		}
	})
}

func TestPlanUpload(t *testing.T) {
	src := []Operand{{Path: "/tmp/some/file.txt"}}
	tests := []struct {
		dst      string
		isDir    bool
		srcs     []Operand
		wantDir  string
		wantName string
		wantErr  bool
	}{
		{"dir", true, src, "dir", "file.txt", false},
		{"", true, src, "", "file.txt", false},
		{"new", false, src, "", "new", false},
		{"a/b/new", false, src, "a/b/", "new", false},
		{"/new", false, src, "/", "new", false},
		{"~/new", false, src, "~/", "new", false},
		{"gone/", false, src, "", "", true},
		{"", false, src, "", "", true},
		{"x", false, append(src, src[0]), "", "", true},
		{"a/..", false, src, "", "", true},
		{"dir", true, []Operand{{Path: "/"}}, "", "", true},
	}
	for _, tt := range tests {
		dir, items, err := PlanUpload(tt.srcs, Operand{Remote: true, Host: "h", Path: tt.dst}, "h", tt.isDir)
		if (err != nil) != tt.wantErr {
			t.Errorf("PlanUpload to %q (dir %v): error %v, want error %v", tt.dst, tt.isDir, err, tt.wantErr)
			continue
		}
		if err == nil && (dir != tt.wantDir || items[0].Name != tt.wantName) {
			t.Errorf("PlanUpload to %q (dir %v) = %q, %q; want %q, %q", tt.dst, tt.isDir, dir, items[0].Name, tt.wantDir, tt.wantName)
		}
	}
}
