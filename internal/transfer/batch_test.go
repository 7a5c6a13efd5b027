package transfer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/rexec-dev/rexec/internal/protocol"
)

func inner(t testing.TB, ms ...protocol.Message) []byte {
	var b []byte
	for _, m := range ms {
		var err error
		if b, err = protocol.AppendFrame(b, m); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func fileMsgs(name, content string) []protocol.Message {
	ms := []protocol.Message{protocol.Entry{Name: name, Kind: protocol.KindFile, Length: int64(len(content)), Mode: 0o644}}
	if content != "" {
		ms = append(ms, protocol.Data{Stream: protocol.TypeFileData, Body: []byte(content)})
	}
	return append(ms, protocol.FileEnd{Hash: protocol.HashBLAKE3, Digest: Digest([]byte(content))})
}

func join(parts ...[]protocol.Message) []protocol.Message {
	var out []protocol.Message
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var batchTests = []struct {
	name     string
	msgs     []protocol.Message
	removals bool
	items    int
}{
	{"files dirs links", join(fileMsgs("a", "x"), fileMsgs("e", ""), []protocol.Message{
		protocol.Entry{Name: "l", Kind: protocol.KindSymlink, Target: "a"}, protocol.Entry{Name: "d", Kind: protocol.KindDir}}), false, 4},
	{"remove allowed", []protocol.Message{protocol.Remove{Name: "x"}}, true, 1},
	{"remove refused", []protocol.Message{protocol.Remove{Name: "x"}}, false, -1},
	{"empty", nil, false, -1},
	{"file without end", fileMsgs("a", "x")[:2], false, -1},
	{"file with short data", []protocol.Message{protocol.Entry{Name: "a", Kind: protocol.KindFile, Length: 3},
		protocol.Data{Stream: protocol.TypeFileData, Body: []byte("x")}}, false, -1},
	{"file end with error", []protocol.Message{protocol.Entry{Name: "a", Kind: protocol.KindFile},
		protocol.FileEnd{Error: protocol.CodeIO}}, false, -1},
	{"large file", []protocol.Message{protocol.Entry{Name: "a", Kind: protocol.KindFile, Length: protocol.BatchFileMax + 1}}, false, -1},
	{"get_end inside", []protocol.Message{protocol.GetEnd{}}, false, -1},
	{"entry with digest", []protocol.Message{protocol.Entry{Name: "d", Kind: protocol.KindFile, Digest: Digest(nil)},
		protocol.FileEnd{Hash: protocol.HashBLAKE3, Digest: Digest(nil)}}, false, -1},
}

// TestParseBatch: the structure of PROTOCOL.md §8.10, and nothing else.
func TestParseBatch(t *testing.T) {
	for _, tt := range batchTests {
		items, err := ParseBatch(inner(t, tt.msgs...), tt.removals)
		switch {
		case tt.items < 0 && !errors.Is(err, ErrProtocol):
			t.Errorf("%s: %v, want a protocol violation", tt.name, err)
		case tt.items >= 0 && (err != nil || len(items) != tt.items):
			t.Errorf("%s: %d items, %v; want %d", tt.name, len(items), err, tt.items)
		}
	}
	if _, err := ParseBatch([]byte{0, 0, 0, 9, '{'}, false); !errors.Is(err, ErrProtocol) {
		t.Errorf("truncated inner frame: %v", err)
	}
}

func FuzzParseBatch(f *testing.F) {
	for _, tt := range batchTests {
		f.Add(inner(f, tt.msgs...), tt.removals)
	}
	f.Fuzz(func(t *testing.T, body []byte, removals bool) {
		items, err := ParseBatch(body, removals)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v is not a protocol violation", err)
			}
			return
		}
		if len(items) == 0 || len(items) > MaxBatchEntries {
			t.Fatalf("%d items accepted", len(items))
		}
		for _, it := range items {
			if it.Remove && !removals {
				t.Fatal("a removal accepted where none may be")
			}
			if !it.Remove && it.Entry.Kind == protocol.KindFile && int64(len(it.Data)) != it.Entry.Length {
				t.Fatalf("%s: %d bytes for a %d-byte file", it.Entry.Name, len(it.Data), it.Entry.Length)
			}
		}
	})
}

func FuzzParseNames(f *testing.F) {
	f.Add([]byte("a\x00b/c"))
	f.Add([]byte("../x"))
	f.Add([]byte(""))
	f.Add([]byte("a\x00\x00b"))
	f.Fuzz(func(t *testing.T, body []byte) {
		names, err := ParseNames(body)
		if err != nil {
			return
		}
		var back []byte
		for _, n := range names {
			if CheckName(n) != nil {
				t.Fatalf("%q accepted", n)
			}
			back = AppendName(back, n)
		}
		if string(back) != string(body) {
			t.Fatalf("round trip %q -> %q", body, back)
		}
	})
}

// applyAll applies items as one batch with an Applier and returns what it
// reported for each name and the bytes of the files in place.
func applyAll(r *Receiver, items []BatchItem) (map[string]error, int64, error) {
	res := map[string]error{}
	var n int64
	a := r.NewApplier(func(x Applied, err error) error {
		if _, dup := res[x.Entry.Name]; dup {
			return fmt.Errorf("%s reported twice", x.Entry.Name)
		}
		res[x.Entry.Name] = err
		if err == nil {
			n += x.Bytes
		}
		return nil
	})
	defer a.Close()
	if err := a.Apply(items); err != nil {
		return res, n, err
	}
	err := a.Finish()
	return res, n, err
}

// TestApplyBatch: a batch lands whole (files with mode, time and bytes,
// links, directories, removals), a file whose digest lies fails alone,
// and no temporary file is left.
func TestApplyBatch(t *testing.T) {
	dir := t.TempDir()
	r, err := OpenReceiver(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := os.WriteFile(filepath.Join(dir, "gone"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := fileMsgs("sub/bad", "abc")
	bad[2] = protocol.FileEnd{Hash: protocol.HashBLAKE3, Digest: Digest([]byte("abd"))}
	msgs := join([]protocol.Message{protocol.Remove{Name: "gone"}}, fileMsgs("sub/a", "hello"), fileMsgs("sub/empty", ""), bad,
		[]protocol.Message{protocol.Entry{Name: "sub/l", Kind: protocol.KindSymlink, Target: "a"},
			protocol.Entry{Name: "sub", Kind: protocol.KindDir, Mode: 0o750, MtimeNS: 1e18}})
	items, err := ParseBatch(inner(t, msgs...), true)
	if err != nil {
		t.Fatal(err)
	}
	res, n, err := applyAll(r, items)
	if err != nil || n != 5 {
		t.Fatalf("Apply = %d bytes, %v", n, err)
	}
	for i, want := range []bool{true, true, true, false, true, true} {
		if err, ok := res[items[i].Entry.Name]; !ok || (err == nil) != want {
			t.Errorf("item %d (%s): reported %v, %v", i, items[i].Entry.Name, ok, err)
		}
	}
	if !errors.Is(res["sub/bad"], ErrIntegrity) {
		t.Errorf("lying digest: %v, want ErrIntegrity", res["sub/bad"])
	}
	if b, err := os.ReadFile(filepath.Join(dir, "sub/a")); err != nil || string(b) != "hello" {
		t.Errorf("sub/a = %q, %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "sub")); err != nil || fi.Mode().Perm() != 0o750 || fi.ModTime().UnixNano() != 1e18 {
		t.Errorf("sub: %v, %v", fi, err)
	}
	for _, p := range []string{"gone", "sub/bad"} {
		if _, err := os.Lstat(filepath.Join(dir, p)); err == nil {
			t.Errorf("%s exists", p)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "sub", ".*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	// A bad name anywhere refuses the whole batch before anything is written.
	items, _ = ParseBatch(inner(t, join(fileMsgs("new", "x"), fileMsgs("../escape", "x"))...), false)
	if _, _, err := applyAll(r, items); !errors.Is(err, ErrBadName) {
		t.Errorf("batch with ../escape: %v, want ErrBadName", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "new")); err == nil {
		t.Error("a refused batch wrote its first file")
	}
}

// TestRemoveNeverFollowsLinks: a removal through a link in the
// destination is refused, a link itself is removed as a link, a missing
// name is no error, and nothing outside the root is touched.
func TestRemoveNeverFollowsLinks(t *testing.T) {
	base := t.TempDir()
	dst, out := filepath.Join(base, "dst"), filepath.Join(base, "out")
	for _, d := range []string{dst, out} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(out, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(out, filepath.Join(dst, "l")); err != nil {
		t.Fatal(err)
	}
	r, err := OpenReceiver(dst, "")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Remove("l/f"); !errors.Is(err, ErrSymlink) {
		t.Errorf("Remove(l/f) = %v, want ErrSymlink", err)
	}
	if err := r.Remove("../out/f"); !errors.Is(err, ErrBadName) {
		t.Errorf("Remove(../out/f) = %v, want ErrBadName", err)
	}
	if err := r.Remove("missing/x"); err != nil {
		t.Errorf("Remove(missing/x) = %v", err)
	}
	if err := r.Remove("l"); err != nil {
		t.Errorf("Remove(l) = %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "f")); err != nil {
		t.Errorf("outside file: %v", err)
	}
}
