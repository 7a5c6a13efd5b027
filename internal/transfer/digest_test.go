package transfer

import (
	"encoding/binary"
	"encoding/hex"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/rexec-dev/rexec/internal/protocol"
)

// pattern is the test-vector input of PROTOCOL.md §8.6: byte i is i mod 251.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// reference computes the file digest straight from the construction of
// PROTOCOL.md §8.6, with none of Tree's code: BLAKE3 of each 4 MiB chunk,
// then BLAKE3 derive-key over the big-endian length and the chunk digests.
func reference(b []byte) string {
	var sums []byte
	for off := 0; off < len(b); off += protocol.ChunkSize {
		s := blake3.Sum256(b[off:min(off+protocol.ChunkSize, len(b))])
		sums = append(sums, s[:]...)
	}
	msg := binary.BigEndian.AppendUint64(nil, uint64(len(b)))
	out := make([]byte, 32)
	blake3.DeriveKey(DigestContext, append(msg, sums...), out)
	return hex.EncodeToString(out)
}

// digestVectors are the test vectors printed in PROTOCOL.md §8.6.
var digestVectors = []struct {
	name string
	data []byte
	want string
}{
	{"empty", nil, "84806dfcdaa340f96e7d40836ffa467049e47044d87e76e1fa76bee9aa7f7635"},
	{"hello", []byte("hello"), "528be7456a5836616aab5d650030b2d1a677cb18313d3372fe2b6772221eb1c7"},
	{"4 MiB", pattern(protocol.ChunkSize), "11e6a03a934f5788d08c41ec2a7f0778cf4952ce9a46d80ca054c1460de4f705"},
	{"4 MiB + 1", pattern(protocol.ChunkSize + 1), "34f22c662ae7a5f0d864a15e0294fa6fc32677b80c0e1d1128e7d4d9f6e770af"},
	{"9 MiB", pattern(9 << 20), "6cda61ce14bdb60cb68ddc11b8e47f979f3504657cc55f20ff515b2f2001ad35"},
}

// TestDigestVectors: Tree gives the documented digests, equal to the
// construction computed independently, however the data is split into
// writes.
func TestDigestVectors(t *testing.T) {
	for _, v := range digestVectors {
		ref := reference(v.data)
		if v.want != "" && ref != v.want {
			t.Errorf("%s: reference %s, PROTOCOL.md says %s", v.name, ref, v.want)
		}
		for _, step := range []int{1 << 30, 1 << 20, 65536, 4095, 1} {
			if step == 1 && len(v.data) > 1<<20 {
				continue
			}
			tr := newTree()
			for off := 0; off < len(v.data); off += step {
				_, _ = tr.Write(v.data[off:min(off+step, len(v.data))])
			}
			if got := tr.Sum(); got != ref {
				t.Errorf("%s in writes of %d: %s, want %s", v.name, step, got, ref)
			}
			if tr.Length() != int64(len(v.data)) {
				t.Errorf("%s: length %d, want %d", v.name, tr.Length(), len(v.data))
			}
		}
		t.Logf("%s: %s", v.name, ref)
	}
}

// TestDigestAddChunk: a prefix given by chunk digests (a resume) yields
// the same digest as hashing its bytes, and a flipped byte changes both
// the chunk digest and the file digest.
func TestDigestAddChunk(t *testing.T) {
	data := pattern(2*protocol.ChunkSize + 100)
	tr := newTree()
	s0 := chunkSum(data[:protocol.ChunkSize])
	tr.addChunk(s0[:])
	_, _ = tr.Write(data[protocol.ChunkSize:])
	if got, want := tr.Sum(), Digest(data); got != want {
		t.Fatalf("with an added chunk: %s, want %s", got, want)
	}
	bad := append([]byte(nil), data...)
	bad[protocol.ChunkSize+7] ^= 1
	if Digest(bad) == Digest(data) || chunkSum(bad[protocol.ChunkSize:2*protocol.ChunkSize]) == chunkSum(data[protocol.ChunkSize:2*protocol.ChunkSize]) {
		t.Fatal("a flipped byte left a digest unchanged")
	}
}
