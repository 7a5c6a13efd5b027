package client

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rexec-dev/rexec/internal/protocol"
)

// listingFrame is a listing data frame holding the given entries.
func listingFrame(t *testing.T, es ...protocol.Entry) []byte {
	t.Helper()
	var body []byte
	for _, e := range es {
		var err error
		if body, err = protocol.AppendFrame(body, e); err != nil {
			t.Fatal(err)
		}
	}
	return fr(`{"type":"listing","size":`+itoa(len(body))+`}`, string(body))
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestSyncHostileManifest: a hostile server's manifest cannot make a
// sync down delete or write outside DST: names that break CheckName, or
// repeat, end the sync before anything is removed; a manifest that omits
// everything makes --delete remove only what the local walk of DST found,
// never what a link in DST points to.
func TestSyncHostileManifest(t *testing.T) {
	f := protocol.Entry{Name: "f", Kind: protocol.KindFile, Length: 1}
	tests := []struct {
		name   string
		stream func(base string) []byte
		fail   bool
	}{
		{"dot-dot", func(string) []byte {
			return listingFrame(t, protocol.Entry{Name: "../outside", Kind: protocol.KindFile})
		}, true},
		{"absolute", func(b string) []byte {
			return listingFrame(t, protocol.Entry{Name: b + "/outside", Kind: protocol.KindFile})
		}, true},
		{"reserved temporary name", func(string) []byte {
			return listingFrame(t, protocol.Entry{Name: ".x.rexec-part-0123456789abcdef", Kind: protocol.KindFile})
		}, true},
		{"repeated", func(string) []byte { return cat(listingFrame(t, f), listingFrame(t, f)) }, true},
		{"not an entry", func(string) []byte {
			body, _ := protocol.AppendFrame(nil, protocol.Remove{Name: "f"})
			return fr(`{"type":"listing","size":`+itoa(len(body))+`}`, string(body))
		}, true},
		{"empty manifest", func(string) []byte { return fr(`{"type":"list_end"}`, "") }, false},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			base := t.TempDir()
			dst := filepath.Join(base, "dst")
			outside := filepath.Join(base, "outside")
			for _, d := range []string{dst, filepath.Join(base, "other")} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for _, p := range []string{outside, filepath.Join(dst, "mine"), filepath.Join(base, "other", "x")} {
				if err := os.WriteFile(p, []byte("keep"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Symlink(filepath.Join(base, "other"), filepath.Join(dst, "link")); err != nil {
				t.Fatal(err)
			}
			var err error
			stream := tt.stream(base)
			if !tt.fail {
				stream = cat(stream, fr(`{"type":"get_end"}`, ""))
			}
			against(t, stream, func(c *Conn) {
				_, err = c.SyncDown(context.Background(), "src", base, "dst", SyncRules{Delete: true}, false, CopyOptions{})
			})
			if (err != nil) != tt.fail {
				t.Fatalf("SyncDown = %v, want failure %v", err, tt.fail)
			}
			if b, err := os.ReadFile(outside); err != nil || string(b) != "keep" {
				t.Errorf("outside DST: %q, %v", b, err)
			}
			if _, err := os.Stat(filepath.Join(base, "other", "x")); err != nil {
				t.Errorf("a file a link in DST points to: %v", err)
			}
			_, merr := os.Stat(filepath.Join(dst, "mine"))
			if tt.fail && merr != nil {
				t.Errorf("a refused manifest still removed DST/mine: %v", merr)
			}
			if !tt.fail && merr == nil {
				t.Error("an empty manifest with --delete kept DST/mine")
			}
		})
	}
}
