package protocol

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/rexec-dev/rexec/internal/protocol/frame"
)

var token = strings.Repeat("ab", 32)

// jobDecodeTests are headers of the job and resume messages, accepted or
// refused as docs/PROTOCOL.md §9 says.
var jobDecodeTests = []struct {
	hdr string
	ok  bool
}{
	{`{"type":"job_started","id":"0123456789abcdef"}`, true},
	{`{"type":"job_started","id":""}`, false},
	{`{"type":"job_started","id":"ABC"}`, false},
	{`{"type":"job_started","id":"a/b"}`, false},
	{`{"type":"job_started","id":"` + strings.Repeat("a", 65) + `"}`, false},
	{`{"type":"jobs"}`, true},
	{`{"type":"jobs_end"}`, true},
	{`{"type":"job_info","id":"j1","state":"running","stdout":5}`, true},
	{`{"type":"attach","id":"j1","stdout":10,"stderr":3}`, true},
	{`{"type":"attach","id":"j1","tail":10}`, true},
	{`{"type":"attach","id":"j1","tail":10,"stdout":1}`, false},
	{`{"type":"attach","id":"j1","stdout":-1}`, false},
	{`{"type":"attach","id":"j1","stdout":4611686018427387905}`, false},
	{`{"type":"attach","id":"j1","Stdout":1}`, false},
	{`{"type":"attached","stdout":1}`, true},
	{`{"type":"gap","stream":"stdout","from":0,"to":10}`, true},
	{`{"type":"gap","stream":"stdin","from":0,"to":10}`, false},
	{`{"type":"gap","stream":"stderr","from":10,"to":10}`, false},
	{`{"type":"kill","id":"j1","signal":"KILL"}`, true},
	{`{"type":"kill"}`, false},
	{`{"type":"kill_ok"}`, true},
	{`{"type":"resume_token","token":"` + token + `","window_ms":60000,"buffer":4194304}`, true},
	{`{"type":"resume_token","token":"abc","window_ms":1}`, false},
	{`{"type":"output_ack","stdout":1,"stderr":2}`, true},
	{`{"type":"output_ack","stdout":-2}`, false},
	{`{"type":"resume","token":"` + token + `","stdout":7}`, true},
	{`{"type":"resume","token":"` + strings.ToUpper(token) + `"}`, false},
	{`{"type":"resume","token":"` + token + `x"}`, false},
	{`{"type":"resumed","token":"` + token + `","stdin":5,"stdin_acked":4,"stdin_eof":true}`, true},
	{`{"type":"resumed","token":"` + token + `","stdin":3,"stdin_acked":4}`, false},
	{`{"type":"abort"}`, true},
	{`{"type":"exec","argv":["a"],"detach":true}`, true},
	{`{"type":"exec","argv":["a"],"detach":true,"pty":true}`, false},
	{`{"type":"exec","argv":["a"],"detach":true,"resume":true}`, false},
	{`{"type":"exec","argv":["a"],"resume":true}`, true},
	{`{"type":"hello","version":1,"features":["jobs","resume"]}`, true},
	{`{"type":"hello","version":1,"features":"jobs"}`, false},
	{`{"type":"hello","version":1,"features":[` + strings.Repeat(`"x",`, 32) + `"x"]}`, false},
}

func decodeHeader(t testing.TB, hdr string) (Message, error) {
	fields, _, err := frame.DecodeHeader([]byte(hdr))
	if err != nil {
		return nil, err
	}
	return Decode(frame.Frame{Fields: fields, Raw: []byte(hdr)})
}

func TestDecodeJobs(t *testing.T) {
	for _, tt := range jobDecodeTests {
		m, err := decodeHeader(t, tt.hdr)
		if (err == nil) != tt.ok {
			t.Errorf("%s: err %v, want ok=%v", tt.hdr, err, tt.ok)
			continue
		}
		if err != nil {
			continue
		}
		var buf bytes.Buffer
		c := NewConn(pipeConn{&buf, &buf})
		if err := c.Send(m); err != nil {
			t.Fatalf("%s: re-encode: %v", tt.hdr, err)
		}
		m2, err := c.Recv()
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Errorf("%s: round trip gave %#v, %v", tt.hdr, m2, err)
		}
	}
}

func TestJobCodesNotFatal(t *testing.T) {
	for _, code := range []string{CodeUnknownJob, CodeUnknownSession} {
		if Fatal(code) {
			t.Errorf("%s is fatal", code)
		}
	}
}

func TestHasFeature(t *testing.T) {
	h := Hello{Version: 1, Features: []string{FeatureJobs}}
	if !h.HasFeature(FeatureJobs) || h.HasFeature(FeatureResume) {
		t.Errorf("HasFeature wrong for %v", h.Features)
	}
}

func FuzzDecodeJobs(f *testing.F) {
	for _, tt := range jobDecodeTests {
		f.Add([]byte(tt.hdr))
	}
	f.Fuzz(func(t *testing.T, hdr []byte) {
		m, err := decodeHeader(t, string(hdr))
		if err != nil {
			return
		}
		switch m := m.(type) {
		case Attach:
			if CheckJobID(m.ID) != nil || m.Stdout < 0 || m.Stderr < 0 || m.Tail < 0 {
				t.Fatalf("accepted %#v", m)
			}
		case Resume:
			if CheckToken(m.Token) != nil || m.Stdout < 0 || m.Stderr < 0 {
				t.Fatalf("accepted %#v", m)
			}
		case Gap:
			if m.From >= m.To || m.From < 0 {
				t.Fatalf("accepted %#v", m)
			}
		}
	})
}
