package transfer

import (
	"encoding/binary"
	"encoding/hex"

	"github.com/zeebo/blake3"

	"github.com/rexec-dev/rexec/internal/protocol"
)

// DigestContext is the BLAKE3 key-derivation context of the file digest
// (PROTOCOL.md §8.6): the digest of a file is BLAKE3 in derive-key mode,
// under this context, of its length and its chunk digests. A context of
// its own keeps a file digest from ever equalling the plain BLAKE3 of
// some other data.
const DigestContext = "rexec 2025-01 file digest v1"

// Tree computes the rexec file digest of a stream in one pass: the BLAKE3
// of each protocol.ChunkSize chunk as the chunk completes, and at the end
// the file digest derived from the chunk digests. The chunk digests are
// what a resume compares (file_sums), so the bytes hashed while streaming
// serve both. The zero value is not ready: use newTree.
type Tree struct {
	cur     *blake3.Hasher // the chunk being hashed
	inChunk int64          // bytes of the current chunk hashed so far
	sums    []byte         // digests of the completed chunks, SumSize each
	length  int64          // bytes hashed in all
}

// newTree returns an empty Tree.
func newTree() *Tree { return &Tree{cur: blake3.New()} }

// Write hashes b, closing chunks at their boundaries. It never fails.
func (t *Tree) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		k := min(int64(len(b)), protocol.ChunkSize-t.inChunk)
		_, _ = t.cur.Write(b[:k])
		t.inChunk += k
		t.length += k
		b = b[k:]
		if t.inChunk == protocol.ChunkSize {
			t.closeChunk()
		}
	}
	return n, nil
}

func (t *Tree) closeChunk() {
	t.sums = t.cur.Sum(t.sums)
	t.cur.Reset()
	t.inChunk = 0
}

// addChunk appends the digest of a whole chunk whose bytes were checked
// elsewhere (a resume's kept prefix), without hashing them again. It is
// only valid at a chunk boundary.
func (t *Tree) addChunk(sum []byte) {
	t.sums = append(t.sums, sum...)
	t.length += protocol.ChunkSize
}

// Length is how many bytes the tree has hashed.
func (t *Tree) Length() int64 { return t.length }

// Sum returns the file digest (lower-case hex) of everything written. It
// does not change the tree.
func (t *Tree) Sum() string {
	sums := t.sums
	if t.inChunk > 0 {
		sums = t.cur.Sum(append([]byte(nil), sums...))
	}
	return hex.EncodeToString(fileDigest(t.length, sums))
}

// deriveKey is a derive-key hasher under DigestContext that has hashed
// nothing: each file digest starts from a copy, rather than hashing the
// context again (a tree of small files takes a digest per file).
var deriveKey = blake3.NewDeriveKey(DigestContext)

// fileDigest derives the file digest from the length and the chunk
// digests: BLAKE3-derive-key(DigestContext, uint64be(length) ‖ sums).
func fileDigest(length int64, sums []byte) []byte {
	h := deriveKey.Clone()
	var l [8]byte
	binary.BigEndian.PutUint64(l[:], uint64(length))
	_, _ = h.Write(l[:])
	_, _ = h.Write(sums)
	return h.Sum(nil)
}

// Digest is the file digest of b (hex), for a file held in memory.
func Digest(b []byte) string {
	sums := make([]byte, 0, chunks(int64(len(b)))*protocol.SumSize)
	for rest := b; len(rest) > 0; {
		n := min(len(rest), protocol.ChunkSize)
		sum := chunkSum(rest[:n])
		sums = append(sums, sum[:]...)
		rest = rest[n:]
	}
	return hex.EncodeToString(fileDigest(int64(len(b)), sums))
}

// chunkSum is the BLAKE3 of one chunk (or of the last, shorter one).
func chunkSum(b []byte) [protocol.SumSize]byte { return blake3.Sum256(b) }
