package protocol

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/rexec-dev/rexec/internal/protocol/frame"
)

const digest = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

var transferDecodeTests = []struct {
	hdr     string
	body    string
	want    Message
	wantErr error
}{
	{`{"type":"stat","path":"a/b"}`, "", Stat{Path: "a/b"}, nil},
	{`{"type":"stat"}`, "", Stat{}, nil},
	{`{"type":"stat","path":"f","checksum":true}`, "", Stat{Path: "f", Checksum: true}, nil},
	{`{"type":"stat_result","kind":"file","length":5,"digest":"` + digest + `"}`, "",
		StatResult{Kind: KindFile, Length: 5, Digest: digest}, nil},
	{`{"type":"stat_result","kind":"dir","digest":"` + digest + `"}`, "", nil, ErrBadField},
	{`{"type":"stat_result","kind":"file","digest":"ABC"}`, "", nil, ErrBadField},
	{`{"type":"stat_result","name":"b","kind":"file","length":5,"mode":420,"mtime_ns":-3}`, "",
		StatResult{Name: "b", Kind: KindFile, Length: 5, Mode: 0o644, MtimeNS: -3}, nil},
	{`{"type":"put","path":"d","name":"x/y","kind":"file","length":9,"mode":2541,"mtime_ns":7,"resume":true}`, "",
		Put{Path: "d", Name: "x/y", Kind: KindFile, Length: 9, Mode: 0o4755, MtimeNS: 7, Resume: true}, nil},
	{`{"type":"put","name":"l","kind":"symlink","target":"../t"}`, "", Put{Name: "l", Kind: KindSymlink, Target: "../t"}, nil},
	{`{"type":"put_ok"}`, "", PutOK{}, nil},
	{`{"type":"get","path":"/x","recursive":true}`, "", Get{Path: "/x", Recursive: true}, nil},
	{`{"type":"entry","name":".","kind":"dir","mode":493}`, "", Entry{Name: ".", Kind: KindDir, Mode: 0o755}, nil},
	{`{"type":"get_end"}`, "", GetEnd{}, nil},
	{`{"type":"get","path":"t","recursive":true,"batch":true,"count":true}`, "", Get{Path: "t", Recursive: true, Batch: true, Count: true}, nil},
	{`{"type":"get","path":"t","count":true}`, "", nil, ErrBadField},
	{`{"type":"tree_size","files":3,"bytes":10}`, "", TreeSize{Files: 3, Bytes: 10}, nil},
	{`{"type":"tree_size","files":-1,"bytes":10}`, "", nil, ErrBadField},
	{`{"type":"file_have","length":4194304,"hash":"blake3"}`, "", FileHave{Length: ChunkSize, Hash: HashBLAKE3}, nil},
	{`{"type":"file_sums","size":3}`, "abc", Data{Stream: TypeFileSums, Body: []byte("abc")}, nil},
	{`{"type":"file_offset","offset":0}`, "", FileOffset{}, nil},
	{`{"type":"file_data","size":2}`, "hi", Data{Stream: TypeFileData, Body: []byte("hi")}, nil},
	{`{"type":"file_end","hash":"blake3","digest":"` + digest + `"}`, "", FileEnd{Hash: HashBLAKE3, Digest: digest}, nil},
	{`{"type":"file_end","error":"changed","message":"source changed"}`, "", FileEnd{Error: CodeChanged, Message: "source changed"}, nil},
	// refusals
	{`{"type":"put","name":"x","kind":"fifo"}`, "", nil, ErrBadField},
	{`{"type":"put","kind":"file"}`, "", nil, ErrBadField},
	{`{"type":"put","name":"x","kind":"file","length":-1}`, "", nil, ErrBadField},
	{`{"type":"put","name":"x","kind":"file","length":4611686018427387905}`, "", nil, ErrBadField},
	{`{"type":"put","name":"x","kind":"dir","length":1}`, "", nil, ErrBadField},
	{`{"type":"put","name":"x","kind":"file","mode":4096}`, "", nil, ErrBadField},
	{`{"type":"put","name":"x","kind":"file","mode":-1}`, "", nil, ErrBadField},
	{`{"type":"put","name":"x","kind":"symlink"}`, "", nil, ErrBadField},
	{`{"type":"put","name":"x","kind":"file","target":"y"}`, "", nil, ErrBadField},
	{`{"type":"put","name":"x","kind":"dir","resume":true}`, "", nil, ErrBadField},
	{`{"type":"put","name":"a\u0000b","kind":"file"}`, "", nil, ErrBadField},
	{`{"type":"put","name":"x","kind":"file","Mode":1}`, "", nil, ErrBadField},
	{`{"type":"put","name":"x","kind":"file","mode":"420"}`, "", nil, ErrBadField},
	{`{"type":"put","name":"x","kind":"file","size":1}`, "x", nil, ErrBadField},
	{`{"type":"stat","path":"` + strings.Repeat("a", MaxPath+1) + `"}`, "", nil, ErrBadField},
	{`{"type":"stat_result","kind":"pipe"}`, "", nil, ErrBadField},
	{`{"type":"file_have","length":-1,"hash":"blake3"}`, "", nil, ErrBadField},
	{`{"type":"file_have","length":0}`, "", nil, ErrBadField},
	{`{"type":"file_have","length":0,"hash":"sha256"}`, "", nil, ErrBadField},
	{`{"type":"file_have","length":137438953473,"hash":"blake3"}`, "", nil, ErrBadField},
	{`{"type":"file_offset","offset":-1}`, "", nil, ErrBadField},
	{`{"type":"file_end"}`, "", nil, ErrBadField},
	{`{"type":"file_end","hash":"blake3","digest":"` + digest + `","error":"io"}`, "", nil, ErrBadField},
	{`{"type":"file_end","hash":"blake3","digest":"` + strings.ToUpper(digest) + `"}`, "", nil, ErrBadField},
	{`{"type":"file_end","hash":"blake3","digest":"abc"}`, "", nil, ErrBadField},
	{`{"type":"file_end","hash":"blake3","digest":"` + digest + `","message":"x"}`, "", nil, ErrBadField},
	{`{"type":"file_end","digest":"` + digest + `"}`, "", nil, ErrBadField},
	{`{"type":"file_end","hash":"sha256","digest":"` + digest + `"}`, "", nil, ErrBadField},
	{`{"type":"file_end","sha256":"` + digest + `"}`, "", nil, ErrBadField},
	{`{"type":"file_end","hash":"blake3","error":"io"}`, "", nil, ErrBadField},
	{`{"type":"entry","name":"x","kind":"file","mtime_ns":1.5}`, "", nil, ErrBadField},
}

func TestDecodeTransfer(t *testing.T) {
	for _, tt := range transferDecodeTests {
		got, err := decodeString(t, tt.hdr, tt.body)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Decode(%.80s) error = %v, want %v", tt.hdr, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Decode(%s) = %#v, %v; want %#v", tt.hdr, got, err, tt.want)
		}
	}
}

func TestTransferCodesAreNotFatal(t *testing.T) {
	for _, code := range []string{CodeNotFound, CodePermission, CodeNoSpace, CodeChanged, CodeIntegrity, CodeInUse, CodeIO} {
		if Fatal(code) || !IsFileCode(code) {
			t.Errorf("code %s: Fatal %v, IsFileCode %v; want false, true", code, Fatal(code), IsFileCode(code))
		}
	}
	if IsFileCode(CodeProtocol) || !Fatal("made_up") {
		t.Errorf("protocol is a file code, or an unknown code is not fatal")
	}
}

// FuzzDecodeTransfer: whatever transfer message is accepted re-encodes and
// decodes to the same value, and is within its documented ranges.
func FuzzDecodeTransfer(f *testing.F) {
	for _, tt := range transferDecodeTests {
		f.Add([]byte(tt.hdr))
	}
	f.Fuzz(func(t *testing.T, hdr []byte) {
		fields, _, err := frame.DecodeHeader(hdr)
		if err != nil {
			return
		}
		m, err := Decode(frame.Frame{Fields: fields, Raw: hdr})
		if err != nil {
			return
		}
		switch m := m.(type) {
		case Put:
			checkEntryRanges(t, m.AsEntry())
		case Entry:
			checkEntryRanges(t, m)
		case FileHave:
			if m.Length < 0 || m.Length > MaxHave {
				t.Fatalf("accepted file_have length %d", m.Length)
			}
		}
		var buf bytes.Buffer
		c := NewConn(pipeConn{&buf, &buf})
		if err := c.Send(m); err != nil {
			t.Fatalf("re-encode %#v: %v", m, err)
		}
		m2, err := c.Recv()
		if err != nil {
			t.Fatalf("re-decode of %s: %v", hdr, err)
		}
		if _, isData := m.(Data); !isData && !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip changed %#v to %#v", m, m2)
		}
	})
}

func checkEntryRanges(t *testing.T, e Entry) {
	t.Helper()
	if e.Name == "" || e.Mode < 0 || e.Mode > MaxMode || e.Length < 0 || e.Length > MaxLength ||
		strings.ContainsRune(e.Name+e.Target, 0) || (e.Kind == KindSymlink) != (e.Target != "") {
		t.Fatalf("accepted out-of-range entry %#v", e)
	}
}
