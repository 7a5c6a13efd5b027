package protocol

import (
	"errors"
	"fmt"

	"github.com/rexec-dev/rexec/internal/protocol/frame"
)

// Tree and sync messages (PROTOCOL.md §8.10, §8.11). A tree travels as a
// stream with no reply per entry: small files, directories, links and
// removals ride together in batch frames, whose body is a sequence of
// inner frames (the §2.1 layout) carrying entries exactly as they would
// be sent one by one; large files travel as an entry and its stream
// (§8.6) between the batches.
const (
	TypePutTree    = "put_tree"    // client → server: a tree upload into path
	TypeTreeEnd    = "tree_end"    // client → server: the upload's last message
	TypeTreeDone   = "tree_done"   // server → client: the upload is durable
	TypeEntryError = "entry_error" // server → client: one entry of the upload failed
	TypeBatch      = "batch"       // a data message: inner frames (entries, removals)
	TypeRemove     = "remove"      // inner only: remove name (sync --delete)
	TypeList       = "list"        // client → server: the manifest of path
	TypeListing    = "listing"     // a data message: inner entry frames of a manifest
	TypeListEnd    = "list_end"    // server → client: the manifest is complete
	TypeNames      = "names"       // a data message: NUL-separated names (get's selection)
	TypeNamesEnd   = "names_end"   // client → server: the selection is complete
	TypeTreeSize   = "tree_size"   // server → client: what a get with count will send
)

// Tree limits.
const (
	// BatchFileMax is the largest file that rides inside a batch: a batch
	// body (at most one frame, 1 MiB) then always holds at least a few
	// files, and a file too large to gain from company streams alone.
	BatchFileMax = 256 << 10
	// MaxSelect bounds the names a get's selection may carry, so a peer
	// cannot make the server hold an unbounded set (16 MiB of names at
	// most, in 16 frames of 1 MiB per MiB of names).
	MaxSelect = 1 << 20
	// MaxSelectBytes bounds the bytes of those names.
	MaxSelectBytes = 16 << 20
)

// PutTree starts a tree upload into the server directory Path (§8.10).
// The client then sends batches, large files (entry and stream) and one
// TreeEnd; the server reports failed entries with EntryError and ends
// with one TreeDone once everything that arrived is durable.
type PutTree struct {
	Path   string `json:"path,omitempty"`
	Resume bool   `json:"resume,omitempty"`
}

// TreeEnd ends the client's part of a tree upload.
type TreeEnd struct{}

// TreeDone ends a tree upload: Entries arrived and are durable, Failed
// did not (each reported in an EntryError), Removed were removed, and
// Bytes of file content crossed the wire.
type TreeDone struct {
	Entries int64 `json:"entries"`
	Failed  int64 `json:"failed,omitempty"`
	Removed int64 `json:"removed,omitempty"`
	Bytes   int64 `json:"bytes,omitempty"`
}

// EntryError is the failure of one entry of a tree upload; the upload
// goes on. Code is a file code of §6.
type EntryError struct {
	Name    string `json:"name"`
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
}

// Remove asks the receiver of a batch to remove Name (a file, link, or a
// directory that is empty by then): sync --delete. Only inside a batch.
type Remove struct {
	Name string `json:"name"`
}

// List asks for the manifest of the directory Path (§8.11): one entry per
// item below it, without content, in listing frames, then ListEnd. With
// Checksum each file entry carries its file digest.
type List struct {
	Path     string `json:"path,omitempty"`
	Checksum bool   `json:"checksum,omitempty"`
}

// ListEnd ends a manifest.
type ListEnd struct{}

// NamesEnd ends a get's selection (§8.11).
type NamesEnd struct{}

// TreeSize is the first answer to a get with Count (§8.10): the files
// and the bytes of file content the server found on a walk of the tree
// before the walk that sends it. It feeds a progress bar only: the tree
// may change between the two walks.
type TreeSize struct {
	Files int64 `json:"files"`
	Bytes int64 `json:"bytes"`
}

// Type implementations.
func (PutTree) Type() string    { return TypePutTree }
func (TreeEnd) Type() string    { return TypeTreeEnd }
func (TreeDone) Type() string   { return TypeTreeDone }
func (EntryError) Type() string { return TypeEntryError }
func (Remove) Type() string     { return TypeRemove }
func (List) Type() string       { return TypeList }
func (ListEnd) Type() string    { return TypeListEnd }
func (NamesEnd) Type() string   { return TypeNamesEnd }
func (TreeSize) Type() string   { return TypeTreeSize }

// newTreeMessage is newMessage for the types of this file.
func newTreeMessage(typ string) Message {
	switch typ {
	case TypeBatch, TypeListing, TypeNames:
		return &Data{Stream: typ}
	case TypePutTree:
		return &PutTree{}
	case TypeTreeEnd:
		return &TreeEnd{}
	case TypeTreeDone:
		return &TreeDone{}
	case TypeEntryError:
		return &EntryError{}
	case TypeRemove:
		return &Remove{}
	case TypeList:
		return &List{}
	case TypeListEnd:
		return &ListEnd{}
	case TypeNamesEnd:
		return &NamesEnd{}
	case TypeTreeSize:
		return &TreeSize{}
	}
	return nil
}

func validateTree(m Message) error {
	switch m := m.(type) {
	case *PutTree:
		return checkPath("put_tree: path", m.Path, false)
	case *List:
		return checkPath("list: path", m.Path, false)
	case *Remove:
		return checkPath("remove: name", m.Name, true)
	case *EntryError:
		if err := checkPath("entry_error: name", m.Name, true); err != nil {
			return err
		}
		if m.Code == "" {
			return fmt.Errorf("entry_error: code is required")
		}
	case *TreeDone:
		if m.Entries < 0 || m.Failed < 0 || m.Removed < 0 || m.Bytes < 0 {
			return fmt.Errorf("tree_done: negative count")
		}
	case *TreeSize:
		if m.Files < 0 || m.Bytes < 0 {
			return fmt.Errorf("tree_size: negative count")
		}
	}
	return nil
}

// AppendFrame appends m encoded as one frame (§2.1) to dst: the inner
// frames of a batch or listing body. A Data body must fit one frame.
func AppendFrame(dst []byte, m Message) ([]byte, error) {
	if d, ok := m.(Data); ok {
		return frame.Append(dst, dataHeader(d.Stream, len(d.Body)), d.Body)
	}
	hdr, err := encodeHeader(m)
	if err != nil {
		return dst, err
	}
	return frame.Append(dst, hdr, nil)
}

// ErrInner marks a batch or listing body that is not a sequence of valid
// inner frames.
var ErrInner = errors.New("protocol: bad inner frame")

// EachInner decodes the inner frames of a batch or listing body, strictly
// (§3), and calls fn with each in order; a Data body aliases body. A
// truncated or invalid frame is ErrInner; fn's error stops the walk and
// is returned.
func EachInner(body []byte, fn func(Message) error) error {
	for len(body) > 0 {
		f, rest, err := frame.Cut(body)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInner, err)
		}
		body = rest
		m, err := Decode(f)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInner, err)
		}
		if err := fn(m); err != nil {
			return err
		}
	}
	return nil
}
