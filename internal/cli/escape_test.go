package cli

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestEscapeFilter(t *testing.T) {
	tests := []struct {
		name, in, out string
		act           escapeAction
	}{
		{"plain text passes", "ls -l\r", "ls -l\r", escapeNone},
		{"disconnect at start", "~.", "", escapeDisconnect},
		{"disconnect after newline", "abc\r~.rest", "abc\r", escapeDisconnect},
		{"disconnect after LF", "abc\n~.", "abc\n", escapeDisconnect},
		{"not at line start", "a~.", "a~.", escapeNone},
		{"help", "~?", "", escapeHelp},
		{"doubled escape sends one", "~~x", "~x", escapeNone},
		{"escape then other char", "~x", "~x", escapeNone},
		{"tilde mid-line twice", "x~~", "x~~", escapeNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newEscapeFilter('~')
			out, _, act := f.filter(nil, []byte(tt.in))
			if string(out) != tt.out || act != tt.act {
				t.Errorf("filter(%q) = %q, %v; want %q, %v", tt.in, out, act, tt.out, tt.act)
			}
		})
	}
}

// TestEscapeSplitAcrossReads: "~" and "." arriving in separate reads still
// make an escape, as they do when typed.
func TestEscapeSplitAcrossReads(t *testing.T) {
	f := newEscapeFilter('~')
	out, _, act := f.filter(nil, []byte("ok\r~"))
	if string(out) != "ok\r" || act != escapeNone {
		t.Fatalf("first part = %q, %v", out, act)
	}
	if _, _, act := f.filter(nil, []byte(".")); act != escapeDisconnect {
		t.Fatalf("second part action = %v, want disconnect", act)
	}
}

func TestEscapeReader(t *testing.T) {
	var stderr bytes.Buffer
	disconnected := false
	r := newEscapeReader(strings.NewReader("echo hi\r~?~.never sent"), '~', &stderr, func() { disconnected = true })
	got, err := io.ReadAll(r)
	if err != nil || string(got) != "echo hi\r" || !disconnected {
		t.Errorf("ReadAll = %q, %v, disconnected %v; want \"echo hi\\r\", nil, true", got, err, disconnected)
	}
	if !strings.Contains(stderr.String(), "terminate connection") {
		t.Errorf("~? printed %q, want the escape list", stderr.String())
	}
}

func TestParseEscape(t *testing.T) {
	tests := []struct {
		in     string
		esc    byte
		use    bool
		wantOK bool
	}{
		{"~", '~', true, true},
		{"none", 0, false, true},
		{"^]", 0x1d, true, true},
		{"ab", 0, false, false},
		{"", 0, false, false},
	}
	for _, tt := range tests {
		esc, use, err := parseEscape(tt.in)
		if (err == nil) != tt.wantOK || esc != tt.esc || use != tt.use {
			t.Errorf("parseEscape(%q) = %q, %v, %v; want %q, %v, ok=%v", tt.in, esc, use, err, tt.esc, tt.use, tt.wantOK)
		}
	}
}
