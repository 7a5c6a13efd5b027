package protocol

import (
	"github.com/rexec-dev/rexec/internal/protocol/frame"
)

// File transfer messages (PROTOCOL.md §8). Requests go client to server:
// stat, put and get. The side that has the data (the client for put, the
// server for get) is the sender; the other is the receiver. A file's bytes
// travel as file_data frames between its header (put or entry) and its
// file_end; with resume, the receiver first tells what it already holds
// (file_have, file_sums) and the sender answers where it starts
// (file_offset).
const (
	TypeStat       = "stat"
	TypeStatResult = "stat_result"
	TypePut        = "put"
	TypePutOK      = "put_ok"
	TypeGet        = "get"
	TypeEntry      = "entry"
	TypeGetEnd     = "get_end"
	TypeFileHave   = "file_have"
	TypeFileSums   = "file_sums" // a data message: SumSize bytes per chunk
	TypeFileOffset = "file_offset"
	TypeFileData   = "file_data" // a data message: the file's bytes
	TypeFileEnd    = "file_end"
)

// Entry kinds (§8.2). Stat also reports KindOther for anything else
// (device, socket, FIFO), which is never transferred.
const (
	KindFile    = "file"
	KindDir     = "dir"
	KindSymlink = "symlink"
	KindOther   = "other"
)

// Error codes of file requests (§6, §8.6). None is fatal: the connection
// stays usable and the message names the file.
const (
	CodeNotFound   = "not_found"  // no such file or directory
	CodePermission = "permission" // permission denied by the file system
	CodeNoSpace    = "no_space"   // no space left on the device, or quota exceeded
	CodeChanged    = "changed"    // the source changed while it was being read
	CodeIntegrity  = "integrity"  // the received bytes do not match the sender's digest
	CodeInUse      = "in_use"     // another transfer is writing the same file
	CodeIO         = "io"         // any other file-system failure
)

// Transfer limits (§8.7), checked when a message is decoded.
const (
	// ChunkSize is the resume granularity: a partial file is verified,
	// and kept or re-sent, in chunks of this many bytes.
	ChunkSize = 4 << 20
	// SumSize is the size of one chunk's digest in a file_sums body, and
	// of the file digest in file_end.
	SumSize = 32
	// MaxSums is how many chunk sums one file_sums frame can carry, so a
	// resume can re-use at most MaxSums*ChunkSize bytes (128 GiB); the
	// rest of a larger partial is sent again.
	MaxSums = frame.MaxBodySize / SumSize
	// MaxHave is the longest prefix a receiver may offer in file_have.
	MaxHave = MaxSums * ChunkSize
	// MaxPath bounds path, name and symlink target strings (PATH_MAX).
	MaxPath = 4096
	// MaxLength bounds a file's length: 2^62 bytes is beyond any file
	// system and keeps offset arithmetic far from overflow.
	MaxLength = 1 << 62
	// MaxMode is the largest mode: permission bits plus setuid, setgid
	// and sticky. A receiver applies only mode & 0o777.
	MaxMode = 0o7777
)

// HashBLAKE3 names the one content hash of this version: the BLAKE3
// chunk tree of PROTOCOL.md §8.6 (a BLAKE3 digest per ChunkSize chunk,
// and the file digest derived from them). file_have and file_end name it,
// so that a later version can add another without a new message.
const HashBLAKE3 = "blake3"

// Stat asks what is at Path on the server (§8.3). It follows symbolic
// links, as stat(2) does. With Checksum the answer about a file carries
// its file digest (sync --checksum of a single file).
type Stat struct {
	Path     string `json:"path,omitempty"`
	Checksum bool   `json:"checksum,omitempty"`
}

// StatResult answers Stat. Name is the base name of the path as the
// server resolved it (its home directory's name for an empty path).
// Digest is a file's file digest (§8.6), when Stat asked for it.
type StatResult struct {
	Name    string `json:"name,omitempty"`
	Kind    string `json:"kind"`
	Length  int64  `json:"length,omitempty"`
	Mode    int    `json:"mode,omitempty"`
	MtimeNS int64  `json:"mtime_ns,omitempty"`
	Digest  string `json:"digest,omitempty"`
}

// Put uploads one entry into the server directory Path (§8.4). Name is
// relative to Path. A file's bytes follow (file_data, file_end); the
// server answers with PutOK or Error.
type Put struct {
	Path    string `json:"path,omitempty"`
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Length  int64  `json:"length,omitempty"`
	Mode    int    `json:"mode,omitempty"`
	MtimeNS int64  `json:"mtime_ns,omitempty"`
	Target  string `json:"target,omitempty"`
	Resume  bool   `json:"resume,omitempty"`
}

// PutOK reports that a put's entry is in place (for a file: verified,
// synced and renamed over its final name).
type PutOK struct{}

// Get downloads Path from the server (§8.5): a file, or with Recursive a
// directory tree. The server answers with entries, errors and one GetEnd.
//
// With Batch the answer packs small files, directories and links into
// batch frames (§8.10). With Select the client sends the names it wants
// right after the get (names frames, then names_end) and the server sends
// only those, with every directory (§8.11).
type Get struct {
	Path      string `json:"path,omitempty"`
	Recursive bool   `json:"recursive,omitempty"`
	Resume    bool   `json:"resume,omitempty"`
	Batch     bool   `json:"batch,omitempty"`
	Select    bool   `json:"select,omitempty"`
	Count     bool   `json:"count,omitempty"` // a TreeSize first (§8.10), for a progress bar
}

// Entry is one item of a get. Name is relative to the requested path,
// which is itself ".". A file entry is followed by its bytes, except in a
// listing (§8.11), where a file may carry its file digest instead.
type Entry struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Length  int64  `json:"length,omitempty"`
	Mode    int    `json:"mode,omitempty"`
	MtimeNS int64  `json:"mtime_ns,omitempty"`
	Target  string `json:"target,omitempty"`
	Digest  string `json:"digest,omitempty"`
}

// GetEnd ends the answer to a get.
type GetEnd struct{}

// FileHave is the receiver's answer to a resumable file header: it holds
// a verified-to-be-checked prefix of Length bytes, whose chunk digests
// (Hash: HashBLAKE3) follow in one file_sums frame when Length > 0.
type FileHave struct {
	Length int64  `json:"length"`
	Hash   string `json:"hash"`
}

// FileOffset is the sender's decision after FileHave: the data that
// follows starts at Offset; the receiver keeps only that prefix.
type FileOffset struct {
	Offset int64 `json:"offset"`
}

// FileEnd ends a file's bytes. Digest (lower-case hex) is the file
// digest of the whole file under Hash (HashBLAKE3); instead, Error (a
// code of §6) and Message abandon it.
type FileEnd struct {
	Hash    string `json:"hash,omitempty"`
	Digest  string `json:"digest,omitempty"`
	Error   string `json:"error,omitempty"`
	Message string `json:"message,omitempty"`
}

// Type implementations: the wire name of each message.
func (Stat) Type() string       { return TypeStat }
func (StatResult) Type() string { return TypeStatResult }
func (Put) Type() string        { return TypePut }
func (PutOK) Type() string      { return TypePutOK }
func (Get) Type() string        { return TypeGet }
func (Entry) Type() string      { return TypeEntry }
func (GetEnd) Type() string     { return TypeGetEnd }
func (FileHave) Type() string   { return TypeFileHave }
func (FileOffset) Type() string { return TypeFileOffset }
func (FileEnd) Type() string    { return TypeFileEnd }

// AsEntry returns the entry a put carries.
func (p Put) AsEntry() Entry {
	return Entry{Name: p.Name, Kind: p.Kind, Length: p.Length, Mode: p.Mode, MtimeNS: p.MtimeNS, Target: p.Target}
}

// newTransferMessage is newMessage for the types of this file.
func newTransferMessage(typ string) Message {
	switch typ {
	case TypeFileData, TypeFileSums:
		return &Data{Stream: typ}
	case TypeStat:
		return &Stat{}
	case TypeStatResult:
		return &StatResult{}
	case TypePut:
		return &Put{}
	case TypePutOK:
		return &PutOK{}
	case TypeGet:
		return &Get{}
	case TypeEntry:
		return &Entry{}
	case TypeGetEnd:
		return &GetEnd{}
	case TypeFileHave:
		return &FileHave{}
	case TypeFileOffset:
		return &FileOffset{}
	case TypeFileEnd:
		return &FileEnd{}
	}
	return newTreeMessage(typ)
}

// IsFileCode reports whether code is one of the file request codes above.
func IsFileCode(code string) bool {
	switch code {
	case CodeNotFound, CodePermission, CodeNoSpace, CodeChanged, CodeIntegrity, CodeInUse, CodeIO:
		return true
	}
	return false
}
