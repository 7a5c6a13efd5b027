//go:build linux

package server

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/audit"
	"github.com/rexec-dev/rexec/internal/protocol"
)

// Every file request is a session of the audit log: a start and an end
// record with its kind, path, outcome and bytes each way.
func TestFileRequestsAudited(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	log, err := audit.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	ts := startServer(t, Config{Audit: log})
	c := ts.dial(t)
	body := bytes.Repeat([]byte("audited "), 1000)

	// A put that arrives whole, one whose checksum is wrong, a stat, and
	// a get of the file.
	for _, m := range []protocol.Message{putHeader(ts.dir, "f", len(body)),
		protocol.Data{Stream: protocol.TypeFileData, Body: body}, fileEnd(body)} {
		if err := c.send(m); err != nil {
			t.Fatal(err)
		}
	}
	expectReply(t, c, protocol.TypePutOK)
	bad := append(bytes.Clone(body[:100]), 'x')
	for _, m := range []protocol.Message{putHeader(ts.dir, "g", len(bad)),
		protocol.Data{Stream: protocol.TypeFileData, Body: bad}, fileEnd(body[:101])} {
		if err := c.send(m); err != nil {
			t.Fatal(err)
		}
	}
	expectReply(t, c, protocol.CodeIntegrity)
	if err := c.send(protocol.Stat{Path: filepath.Join(ts.dir, "f")}); err != nil {
		t.Fatal(err)
	}
	expectReply(t, c, protocol.TypeStatResult)
	if err := c.send(protocol.Get{Path: filepath.Join(ts.dir, "f")}); err != nil {
		t.Fatal(err)
	}
	for range 100 { // bounded: header, a few data frames, file_end, get_end
		m, err := c.recv()
		if err != nil {
			t.Fatal(err)
		}
		if m.Type() == protocol.TypeGetEnd {
			break
		}
	}
	if _, err := os.Stat(filepath.Join(ts.dir, "g")); err == nil {
		t.Error("the put with a wrong checksum was committed")
	}

	// The end record of the get is written after get_end is sent.
	var recs []audit.Record
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if recs = readAudit(t, path); len(recs) >= 8 || time.Now().After(deadline) { // verifies the chain
			break
		}
	}
	want := []audit.Record{
		{Kind: protocol.TypePut, Path: ts.dir + "/f", Outcome: "ok", BytesIn: int64(len(body))},
		{Kind: protocol.TypePut, Path: ts.dir + "/g", Outcome: "failed", BytesIn: int64(len(bad))},
		{Kind: protocol.TypeStat, Path: filepath.Join(ts.dir, "f"), Outcome: "ok"},
		{Kind: protocol.TypeGet, Path: filepath.Join(ts.dir, "f"), Outcome: "ok", BytesOut: int64(len(body))},
	}
	if len(recs) != 2*len(want) {
		t.Fatalf("%d audit records, want %d: %+v", len(recs), 2*len(want), recs)
	}
	for i, w := range want {
		start, end := recs[2*i], recs[2*i+1]
		if start.Event != audit.EventStart || end.Event != audit.EventEnd || start.Session != end.Session ||
			start.Kind != w.Kind || start.Path != w.Path || start.Fingerprint == "" || start.Remote == "" {
			t.Errorf("request %d: records %+v / %+v, want the start and end of %s %s", i, start, end, w.Kind, w.Path)
		}
		if end.Kind != w.Kind || end.Path != w.Path || end.Outcome != w.Outcome ||
			end.BytesIn != w.BytesIn || end.BytesOut != w.BytesOut {
			t.Errorf("request %d: end record %+v, want %+v", i, end, w)
		}
		if w.Outcome == "failed" && end.Reason == "" {
			t.Errorf("request %d: a failed request's end record names no reason", i)
		}
	}
}

// A file request whose start record cannot be written is refused, as a
// command is (fail closed).
func TestFileRequestRefusedWhenAuditFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	log, err := audit.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, Config{Audit: log})
	log.Close() // every later Append fails
	c := ts.dial(t)
	if err := c.send(protocol.Stat{Path: ts.dir}); err != nil {
		t.Fatal(err)
	}
	expectReply(t, c, protocol.CodeUnavailable)
}
