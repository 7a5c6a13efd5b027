package legacy

// Our Client against the lesson's own server.py.

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSeedServerEchoHi(t *testing.T) {
	addr, _ := startSeedServer(t)
	var warn bytes.Buffer
	out, rep, err := runOurs(t, &Client{Addr: addr, Stderr: &warn}, "echo hi")
	if err != nil {
		t.Fatalf("Run(echo hi) = %v", err)
	}
	want := `{"filename":"a.txt","md5":"asdfasdf123123x1","total_size":3}` + "\n" + "hi\n"
	if out != want {
		t.Errorf("output = %q, want %q", out, want)
	}
	if rep.Verified || !strings.Contains(warn.String(), "not verified") {
		t.Errorf("placeholder md5: Verified %v, warning %q; want false and a warning", rep.Verified, warn.String())
	}
}

func TestSeedServerTwentyMiB(t *testing.T) {
	addr, _ := startSeedServer(t)
	const size = 20 << 20
	start := time.Now()
	out, rep, err := runOurs(t, &Client{Addr: addr, HideHeader: true}, `head -c 20971520 /dev/zero | tr '\0' a`)
	if err != nil {
		t.Fatalf("Run(20 MiB) = %v", err)
	}
	t.Logf("20 MiB in %v", time.Since(start))
	want := strings.Repeat("a", size)
	if rep.Size != size || out != want {
		t.Fatalf("got Size %d, %d bytes out, want %d of 'a'", rep.Size, len(out), size)
	}
	if rep.MD5 != md5hex([]byte(want)) {
		t.Errorf("MD5 = %s, want %s", rep.MD5, md5hex([]byte(want)))
	}
}

func TestSeedServerDecodes(t *testing.T) {
	addr, _ := startSeedServer(t)
	tests := []struct {
		name, command, encoding, want, used string
	}{
		{"utf-8 auto", `printf '\344\270\255\346\226\207\n'`, "", "中文\n", EncodingUTF8},
		{"gbk auto", `printf '\326\320\316\304\n'`, "", "中文\n", EncodingGBK},
		{"gbk asked", `printf '\326\320\316\304\n'`, "gbk", "中文\n", EncodingGBK},
		{"raw", `printf '\326\320\316\304\n'`, "raw", "\xd6\xd0\xce\xc4\n", EncodingRaw},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, rep, err := runOurs(t, &Client{Addr: addr, Encoding: tt.encoding, HideHeader: true}, tt.command)
			if err != nil || out != tt.want || rep.Encoding != tt.used {
				t.Errorf("Run(%s) = %q, %s, %v; want %q, %s", tt.command, out, rep.Encoding, err, tt.want, tt.used)
			}
		})
	}
}

// TestSeedServerKilledMidReply kills server.py (SIGKILL) as soon as the
// body starts to arrive: the client must stop with ErrServerClosed, at
// once, not wait for bytes that will never come.
func TestSeedServerKilledMidReply(t *testing.T) {
	addr, py := startSeedServer(t)
	var killed time.Time
	c := &Client{Addr: addr, HideHeader: true, Progress: func(done, total int64) {
		if killed.IsZero() {
			killed = time.Now()
			py.Process.Kill()
		}
	}}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, err := c.Run(ctx, `head -c 209715200 /dev/zero`)
	if !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Run = %v, want ErrServerClosed", err)
	}
	if killed.IsZero() {
		t.Fatal("the body never started")
	}
	if took := time.Since(killed); took > time.Second {
		t.Errorf("error came %v after the kill, want < 1s", took)
	}
	if !strings.Contains(err.Error(), "of 209715200 body bytes") {
		t.Errorf("error %q does not say how much of the body came", err)
	}
}
