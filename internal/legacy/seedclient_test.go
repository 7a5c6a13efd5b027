package legacy

// The lesson's own clients (client_once.py, client.py) against our Server.

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// pyHeader is the header dict as client_once.py prints it: the lesson's
// three keys, then the exit status and encoding our server adds.
var pyHeader = regexp.MustCompile(`^\{'filename': 'a\.txt', 'md5': '([0-9a-f]{32})', 'total_size': (\d+)` +
	`(?:, 'exit_code': (-?\d+))?(?:, 'signal': '(\w+)')?(?:, 'encoding': '(gbk)')?\}$`)

// lessonReply splits client_once.py's output into the header dict's md5
// and total_size and the body it printed (print adds one newline).
func lessonReply(t *testing.T, out string) (md5, body string, size int) {
	t.Helper()
	line, rest, ok := strings.Cut(out, "\n")
	m := pyHeader.FindStringSubmatch(line)
	if !ok || m == nil {
		t.Fatalf("lesson client printed %.200q, want a header dict line first", out)
	}
	size, _ = strconv.Atoi(m[2])
	return m[1], strings.TrimSuffix(rest, "\n"), size
}

// onceAgainstUs runs client_once.py with command against a fresh Server.
func onceAgainstUs(t *testing.T, command string) (md5, body string, size int) {
	t.Helper()
	srv := startServer(t, nil)
	out, err := runPython(t, srv.port, "", "client_once.py", command)
	if err != nil {
		t.Fatalf("client_once.py %.60q: %v", command, err)
	}
	return lessonReply(t, out)
}

func TestSeedClientOnceEchoHi(t *testing.T) {
	sum, body, size := onceAgainstUs(t, "echo hi")
	if body != "hi\n" || size != 3 {
		t.Errorf("echo hi: body %q size %d, want %q size 3", body, size, "hi\n")
	}
	if want := md5hex([]byte("hi\n")); sum != want {
		t.Errorf("header md5 = %s, want MD5 of the body %s", sum, want)
	}
}

func TestSeedClientPromptLoop(t *testing.T) {
	srv := startServer(t, nil)
	// client.py ends with EOFError when stdin runs out; only stdout matters.
	out, _ := runPython(t, srv.port, "echo hi\n\necho there\n", "client.py")
	if strings.Count(out, "'filename': 'a.txt'") != 2 {
		t.Errorf("client.py printed %q, want two header dicts", out)
	}
	if !strings.Contains(out, "hi\n\n>>: ") || !strings.Contains(out, "there\n") {
		t.Errorf("client.py printed %q, want hi and there", out)
	}
}

func TestSeedClientTwoMiB(t *testing.T) {
	sum, body, size := onceAgainstUs(t, `head -c 2097152 /dev/zero | tr '\0' a`)
	want := strings.Repeat("a", 2<<20)
	if size != len(want) || body != want {
		t.Fatalf("2 MiB output: size %d, body %d bytes, want %d of 'a'", size, len(body), len(want))
	}
	if sum != md5hex([]byte(want)) {
		t.Errorf("md5 = %s, want %s", sum, md5hex([]byte(want)))
	}
}

func TestSeedClientStderrFillsFirst(t *testing.T) {
	_, body, _ := onceAgainstUs(t, `head -c 71680 /dev/zero | tr '\0' e >&2; echo out`)
	if want := "out\n" + strings.Repeat("e", 71680); body != want {
		t.Errorf("body = %d bytes starting %.20q, want stdout then 70 KiB of stderr", len(body), body)
	}
}

func TestSeedClientLongCommandRunsOnce(t *testing.T) {
	word := strings.Repeat("A", 1500-len("echo "))
	_, body, _ := onceAgainstUs(t, "echo "+word)
	if body != word+"\n" {
		t.Errorf("1,500-byte command: body %d bytes (%d A's), want it run once", len(body), strings.Count(body, "A"))
	}
}

// TestSeedClientsServedTogether proves concurrency without timing: the
// first command waits (boundedly) for a file only the second creates, so
// a server serving one client at a time would print "timeout".
func TestSeedClientsServedTogether(t *testing.T) {
	srv := startServer(t, nil)
	dir := t.TempDir()
	started, flag := filepath.Join(dir, "started"), filepath.Join(dir, "flag")
	first := `touch ` + started + `; i=0; while [ ! -e ` + flag + ` ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; [ -e ` + flag + ` ] && echo one || echo timeout`
	var wg sync.WaitGroup
	var out1 string
	var err1 error
	wg.Go(func() { out1, err1 = runPython(t, srv.port, "", "client_once.py", first) })
	if !waitFor(testTimeout, func() bool { _, err := os.Stat(started); return err == nil }) {
		t.Fatal("first command never started")
	}
	out2, err2 := runPython(t, srv.port, "", "client_once.py", "touch "+flag+"; echo two")
	wg.Wait()
	if err1 != nil || err2 != nil {
		t.Fatalf("clients: %v; %v", err1, err2)
	}
	if _, body, _ := lessonReply(t, out1); body != "one\n" {
		t.Errorf("first client got %q, want %q (served while it waited)", body, "one\n")
	}
	if _, body, _ := lessonReply(t, out2); body != "two\n" {
		t.Errorf("second client got %q, want %q", body, "two\n")
	}
}
