package session

import (
	"strings"
	"testing"
)

// cgroupNames are the parser's table: canonical names and near misses.
var cgroupNames = []struct {
	name  string
	owner cgroupOwner
	id    string
	ok    bool
}{
	{"rexec-1234-5678-0123456789abcdef", cgroupOwner{1234, 5678}, "0123456789abcdef", true},
	{"rexec-1-0-x", cgroupOwner{1, 0}, "x", true},
	{"rexec-4194304-18446744073709551615-a-b", cgroupOwner{maxPid, 1<<64 - 1}, "a-b", true},
	{"rexec-0123456789abcdef", cgroupOwner{}, "", false},       // owner-less (old) name
	{"rexec-probe-0123456789abcdef", cgroupOwner{}, "", false}, // test ids
	{"rexec-1234-5678-", cgroupOwner{}, "", false},
	{"rexec-1234-5678", cgroupOwner{}, "", false},
	{"rexec-0-5678-x", cgroupOwner{}, "", false},
	{"rexec-01-5678-x", cgroupOwner{}, "", false},
	{"rexec-1-05678-x", cgroupOwner{}, "", false},
	{"rexec-+1-5678-x", cgroupOwner{}, "", false},
	{"rexec--1-5678-x", cgroupOwner{}, "", false},
	{"rexec-4194305-1-x", cgroupOwner{}, "", false},
	{"rexec-99999999999999999999-1-x", cgroupOwner{}, "", false},
	{"rexec-1-18446744073709551616-x", cgroupOwner{}, "", false},
	{"rexec-1 -2-x", cgroupOwner{}, "", false},
	{"other-1-2-x", cgroupOwner{}, "", false},
	{"Rexec-1-2-x", cgroupOwner{}, "", false},
	{"", cgroupOwner{}, "", false},
}

func TestParseCgroupName(t *testing.T) {
	for _, tt := range cgroupNames {
		o, id, ok := parseCgroupName(tt.name)
		if o != tt.owner || id != tt.id || ok != tt.ok {
			t.Errorf("parseCgroupName(%q) = %+v, %q, %v; want %+v, %q, %v", tt.name, o, id, ok, tt.owner, tt.id, tt.ok)
		}
		if ok {
			if back := formatCgroupName(o, id); back != tt.name {
				t.Errorf("formatCgroupName(parseCgroupName(%q)) = %q", tt.name, back)
			}
		}
	}
}

// FuzzParseCgroupName: no input panics; a name accepted formats back to
// itself (so two names never decode to the same owner and id); and every
// owner and id formatted parses back to exactly them.
func FuzzParseCgroupName(f *testing.F) {
	for _, tt := range cgroupNames {
		f.Add(tt.name, tt.owner.pid, tt.owner.start, tt.id)
	}
	f.Fuzz(func(t *testing.T, name string, pid int, start uint64, id string) {
		o, gotID, ok := parseCgroupName(name)
		if ok {
			if back := formatCgroupName(o, gotID); back != name {
				t.Fatalf("parseCgroupName(%q) = %+v, %q; formats back to %q", name, o, gotID, back)
			}
			if o.pid < 1 || o.pid > maxPid || gotID == "" {
				t.Fatalf("parseCgroupName(%q) accepted owner %+v, id %q", name, o, gotID)
			}
		} else if o != (cgroupOwner{}) || gotID != "" {
			t.Fatalf("parseCgroupName(%q) refused but returned %+v, %q", name, o, gotID)
		}
		if pid < 1 || pid > maxPid || id == "" || strings.Contains(id, "/") {
			return
		}
		want := cgroupOwner{pid: pid, start: start}
		formatted := formatCgroupName(want, id)
		if o, gotID, ok := parseCgroupName(formatted); !ok || o != want || gotID != id {
			t.Fatalf("parseCgroupName(%q) = %+v, %q, %v; want %+v, %q", formatted, o, gotID, ok, want, id)
		}
	})
}
