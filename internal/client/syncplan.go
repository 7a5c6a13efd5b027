package client

import (
	"path"
	"slices"
	"strings"

	"github.com/rexec-dev/rexec/internal/protocol"
)

// SyncRules shape a sync plan (rexec sync). The zero value sends what
// differs by size and modification time and removes nothing.
type SyncRules struct {
	Checksum bool     // compare file digests instead of size and time
	Delete   bool     // remove what the source does not have
	Exclude  []string // patterns (Excluded) of names neither sent nor removed
}

// SyncPlan is what a sync does: the source entries to send (in the
// source's order, children before their directory) and the destination
// names to remove (children before their directory), all relative to the
// sync's root, which is ".".
type SyncPlan struct {
	Send   []protocol.Entry
	Remove []string
	Files  int   // files to send
	Bytes  int64 // their length
}

// PlanSync compares the source entries src (a post-order walk, names
// relative to the root, the root itself ".") with the destination's
// manifest dst (same names; absent when the destination does not exist),
// as rsync does: a file whose size and modification time match (with
// Checksum: whose digest matches; src entries then carry their digest)
// is skipped, a link whose target matches is skipped, a directory is
// sent when anything in it is or its mode or time differ. An item whose
// kind changed is removed first. With Delete, destination items the
// source lacks are removed. Excluded names (and everything below them)
// are neither sent nor removed. It is pure.
func PlanSync(src []protocol.Entry, dst map[string]protocol.Entry, r SyncRules) SyncPlan {
	var p SyncPlan
	inSrc := make(map[string]bool, len(src))
	dirty := map[string]bool{} // directories with something sent or removed below
	removed := map[string]bool{}
	markParents := func(name string) {
		for d := parentOf(name); ; d = parentOf(d) {
			dirty[d] = true
			if d == "." {
				return
			}
		}
	}
	removeTree := func(name string) {
		var below []string
		for n := range dst {
			if strings.HasPrefix(n, name+"/") {
				below = append(below, n)
			}
		}
		slices.SortFunc(below, deeperFirst)
		for _, n := range append(below, name) {
			if !removed[n] {
				removed[n] = true
				p.Remove = append(p.Remove, n)
			}
		}
		markParents(name)
	}
	for _, e := range src {
		if Excluded(e.Name, r.Exclude) {
			continue
		}
		inSrc[e.Name] = true
		d, ok := dst[e.Name]
		if ok && d.Kind != e.Kind && e.Name != "." {
			removeTree(e.Name)
			ok = false
		}
		send := !ok
		switch {
		case send:
		case e.Kind == protocol.KindFile:
			if r.Checksum {
				send = e.Digest != d.Digest || e.Length != d.Length
			} else {
				send = e.Length != d.Length || e.MtimeNS != d.MtimeNS
			}
			send = send || e.Mode&0o777 != d.Mode&0o777
		case e.Kind == protocol.KindSymlink:
			send = e.Target != d.Target
		case e.Kind == protocol.KindDir:
			send = dirty[e.Name] || e.Mode&0o777 != d.Mode&0o777 || e.MtimeNS != d.MtimeNS
		}
		if !send {
			continue
		}
		p.Send = append(p.Send, e)
		if e.Kind == protocol.KindFile {
			p.Files++
			p.Bytes += e.Length
		}
		if e.Name != "." {
			markParents(e.Name)
		}
	}
	if r.Delete {
		var extra []string
		for n := range dst {
			if !inSrc[n] && !removed[n] && n != "." && !Excluded(n, r.Exclude) {
				extra = append(extra, n)
			}
		}
		slices.SortFunc(extra, deeperFirst)
		for _, n := range extra {
			p.Remove = append(p.Remove, n)
			markParents(n)
		}
	}
	// A directory whose contents changed is sent again after them, so that
	// its time is the source's once they are in.
	if len(p.Remove) > 0 {
		p.Send = resendDirty(src, p.Send, dirty, r.Exclude)
	}
	return p
}

// resendDirty adds the dirty directories of src that are not sent yet,
// keeping src's order.
func resendDirty(src, send []protocol.Entry, dirty map[string]bool, exclude []string) []protocol.Entry {
	sent := make(map[string]bool, len(send))
	for _, e := range send {
		sent[e.Name] = true
	}
	var out []protocol.Entry
	for _, e := range src {
		switch {
		case sent[e.Name]:
			out = append(out, e)
		case e.Kind == protocol.KindDir && dirty[e.Name] && !Excluded(e.Name, exclude):
			out = append(out, e)
		}
	}
	return out
}

// deeperFirst orders names so that everything below a directory comes
// before it.
func deeperFirst(a, b string) int {
	if da, db := strings.Count(a, "/"), strings.Count(b, "/"); da != db {
		return db - da
	}
	return strings.Compare(a, b)
}

func parentOf(name string) string { return path.Dir(name) }

// Excluded reports whether name (relative to the sync's root) or a
// directory above it matches one of the patterns, as rsync's --exclude
// does: a pattern with no slash matches any one component (path.Match,
// so *, ? and [...] work); a pattern with a slash matches the whole path
// from the root (a leading slash is dropped); a trailing slash is
// ignored (it means a directory to rsync, here anything).
func Excluded(name string, patterns []string) bool {
	if name == "." || len(patterns) == 0 {
		return false
	}
	for _, pat := range patterns {
		pat = strings.TrimSuffix(pat, "/")
		if pat == "" {
			continue
		}
		if strings.Contains(pat, "/") {
			pat = strings.TrimPrefix(pat, "/")
			for p := name; p != "."; p = path.Dir(p) {
				if ok, _ := path.Match(pat, p); ok {
					return true
				}
			}
			continue
		}
		for c := range strings.SplitSeq(name, "/") {
			if ok, _ := path.Match(pat, c); ok {
				return true
			}
		}
	}
	return false
}
