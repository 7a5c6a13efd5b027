package client

import (
	"fmt"
	"strings"

	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/transfer"
)

// This file holds what the client checks of a server's answers to its
// file requests before it writes anything (docs/PROTOCOL.md §8.3, §8.5;
// docs/SECURITY.md, "Downloads: the client writes only what its user
// named"): the server names nothing the client writes.

// maxLinkNames bounds the symbolic-link names one Get remembers to refuse
// entries below them: a tree holding more links than this is rare, and
// past it the Receiver still refuses to write through any link it finds
// on disk (the entry fails instead of ending the download).
const maxLinkNames = 1 << 20

// RequestedName is the name the user gave the entry a remote path names:
// its last slash-separated component, trailing slashes ignored. ok is
// false when the path names no entry of its own: "", "~", "/", or a last
// component "." or "..". It is pure. A download into a directory takes
// this name; the server's answers must agree with it.
func RequestedName(path string) (name string, ok bool) {
	p := strings.TrimRight(path, "/")
	if p == "" || p == "~" {
		return "", false
	}
	name = p[strings.LastIndexByte(p, '/')+1:]
	if name == "." || name == ".." {
		return "", false
	}
	return name, true
}

// checkStatName holds a stat_result to the path it answers: the server
// names the path's own last component (§8.3), never another name. A path
// that names no entry of its own (RequestedName) has nothing to compare.
func checkStatName(path, got string) error {
	want, ok := RequestedName(path)
	if ok && got != want {
		return fmt.Errorf("%w: the server answered stat %q with the name %q", transfer.ErrProtocol, path, got)
	}
	return nil
}

// getAnswer checks, entry by entry, that a get's answer holds nothing
// but what was asked (§8.5). For one file (tree false): a single file
// entry ".". For a tree: entries with valid names below "." (so below
// the requested root), none of them at or below a symbolic link the
// answer already sent (a link is stored, never written through), then
// "." itself, a directory (or a file when it comes alone), and nothing
// after it. A refused entry is a protocol violation: the client writes
// nothing for it or after it. Its zero value checks a single file.
type getAnswer struct {
	tree  bool
	count int                 // entries admitted so far
	ended bool                // "." arrived: the answer is complete
	links map[string]struct{} // symbolic links sent, up to maxLinkNames
}

// admit checks the next entry of the answer and records it.
func (a *getAnswer) admit(name, kind string) error {
	if err := a.check(name, kind); err != nil {
		return fmt.Errorf("%w: %v", transfer.ErrProtocol, err)
	}
	a.count++
	if name == "." {
		a.ended = true
	} else if kind == protocol.KindSymlink && len(a.links) < maxLinkNames {
		if a.links == nil {
			a.links = map[string]struct{}{}
		}
		a.links[name] = struct{}{}
	}
	return nil
}

func (a *getAnswer) check(name, kind string) error {
	switch {
	case a.ended:
		return fmt.Errorf("the server sent %s %q after the requested path's own entry", kind, name)
	case !a.tree && (name != "." || kind != protocol.KindFile):
		return fmt.Errorf("the server sent %s %q, but one file was requested", kind, name)
	case name == ".":
		return a.checkRoot(kind)
	}
	if err := transfer.CheckName(name); err != nil {
		return err
	}
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] != '/' {
			continue
		}
		if _, ok := a.links[name[:i]]; ok {
			if i == len(name) {
				return fmt.Errorf("the server sent %q again after sending it as a symbolic link", name)
			}
			return fmt.Errorf("the server sent %s %q below the symbolic link %q it sent", kind, name, name[:i])
		}
	}
	return nil
}

// checkRoot checks the entry "." of a tree: a directory, or a file that
// comes alone (the path named a file).
func (a *getAnswer) checkRoot(kind string) error {
	switch {
	case kind == protocol.KindDir, kind == protocol.KindFile && a.count == 0:
		return nil
	case kind == protocol.KindFile:
		return fmt.Errorf("the server sent the requested path as a file after %d entries below it", a.count)
	}
	return fmt.Errorf("the server sent the requested path as a %s", kind)
}
