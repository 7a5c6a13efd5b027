package cli_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/rexectest"
)

// jobID is the last line of run --detach's stdout.
func jobID(t *testing.T, r result) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	id := lines[len(lines)-1]
	if r.code != 0 || len(id) != 16 {
		t.Fatalf("run --detach = %d, %q, %q; want 0 and a job id", r.code, r.stdout, r.stderr)
	}
	return id
}

// jobsJSON lists the jobs as `rexec jobs --output json` prints them.
func jobsJSON(t *testing.T, home, host string) []map[string]any {
	t.Helper()
	r := rexec(t, home, nil, "jobs", "--output", "json", host)
	if r.code != 0 {
		t.Fatalf("jobs = %d %q", r.code, r.stderr)
	}
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("jobs json line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// waitEnded waits until job id is listed as ended.
func waitEnded(t *testing.T, home, host, id string) map[string]any {
	t.Helper()
	var found map[string]any
	ok := rexectest.Eventually(30*time.Second, func() bool {
		for _, j := range jobsJSON(t, home, host) {
			if j["id"] == id && j["state"] == "ended" {
				found = j
				return true
			}
		}
		return false
	})
	if !ok {
		t.Fatalf("job %s did not end", id)
	}
	return found
}

// TestDetachAttachRoundTrip: detach prints an id and exits 0 at once;
// the job's output and exit status come back exactly through attach,
// from any offset, its tail, after the starting client is gone; jobs
// lists it with its bytes and outcome.
func TestDetachAttachRoundTrip(t *testing.T) {
	home := t.TempDir()
	d := startDaemon(t, home)
	// 20000 numbered lines on stdout, two on stderr, exit 3
	script := `i=0; while [ $i -lt 20000 ]; do echo "line $i"; i=$((i+1)); done; echo err1 >&2; echo err2 >&2; exit 3`
	var want strings.Builder
	for i := 0; i < 20000; i++ {
		fmt.Fprintf(&want, "line %d\n", i)
	}
	start := time.Now()
	id := jobID(t, rexec(t, home, nil, "run", "--detach", d.host(), script))
	if time.Since(start) > 20*time.Second {
		t.Errorf("run --detach took %v", time.Since(start))
	}
	info := waitEnded(t, home, d.host(), id)
	if info["outcome"] != "exited" || info["exit_code"] != 3.0 || info["stdout_bytes"] != float64(want.Len()) || info["stderr_bytes"] != 10.0 {
		t.Errorf("jobs lists %v", info)
	}
	tests := []struct {
		name         string
		args         []string
		stdout, errs string
	}{
		{"whole", nil, want.String(), "err1\nerr2\n"},
		{"from", []string{"--from", "12345"}, want.String()[12345:], "err1\nerr2\n"},
		{"from end", []string{"--from", strconv.Itoa(want.Len())}, "", "err1\nerr2\n"},
		{"stderr from", []string{"--stderr-from", "5"}, want.String(), "err2\n"},
		{"tail", []string{"--tail", "7"}, want.String()[want.Len()-7:], "1\nerr2\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rexec(t, home, nil, append(append([]string{"attach"}, tt.args...), d.host(), id)...)
			if r.code != 3 || r.stdout != tt.stdout || r.stderr != tt.errs {
				t.Errorf("attach %v = %d, %d bytes of stdout (want %d), stderr %q (want %q)", tt.args, r.code, len(r.stdout), len(tt.stdout), r.stderr, tt.errs)
			}
		})
	}
}

// TestAttachLiveAndKill: attach follows a running job; kill ends the
// whole job (a background child included) and attach exits 143.
func TestAttachLiveAndKill(t *testing.T) {
	home := t.TempDir()
	d := startDaemon(t, home)
	pidFile := filepath.Join(t.TempDir(), "child")
	id := jobID(t, rexec(t, home, nil, "run", "--detach", d.host(),
		fmt.Sprintf(`sleep 300 & echo $! > %s; echo started; while :; do sleep 0.2; done`, pidFile)))
	cmd, out := startRexec(t, home, "attach", d.host(), id)
	buf := make([]byte, 8)
	if n, err := out.Read(buf); err != nil || string(buf[:n]) != "started\n" {
		t.Fatalf("attach printed %q, %v", buf[:n], err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	child, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if r := rexec(t, home, nil, "kill", d.host(), id); r.code != 0 {
		t.Fatalf("kill = %d %q", r.code, r.stderr)
	}
	err = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 143 {
		t.Errorf("attach after kill exited %d (%v), want 143", code, err)
	}
	if left := rexectest.WaitGone(10*time.Second, child); len(left) > 0 {
		t.Errorf("the job's background child %d outlived kill", child)
	}
	if info := waitEnded(t, home, d.host(), id); info["outcome"] != "signaled" || info["signal"] != "TERM" {
		t.Errorf("killed job listed as %v", info)
	}
}

// TestJobsOtherKey: another authorized key sees no job of the first,
// cannot attach to or kill it, and bad requests say why and exit 255.
func TestJobsOtherKey(t *testing.T) {
	home := t.TempDir()
	d := startDaemon(t, home)
	id := jobID(t, rexec(t, home, nil, "run", "--detach", d.host(), "sleep 60"))
	other := t.TempDir()
	if r := rexec(t, other, nil, "keygen"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if r := rexec(t, home, nil, "authorize", filepath.Join(other, "id_ed25519.pub")); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if r := rexec(t, other, nil, "run", "--accept-new", d.host(), "true"); r.code != 0 {
		t.Fatalf("other key cannot run: %d %q", r.code, r.stderr)
	}
	if l := jobsJSON(t, other, d.host()); len(l) != 0 {
		t.Errorf("another key lists %v", l)
	}
	tests := []struct {
		name string
		home string
		args []string
		code int
		msg  string
	}{
		{"other key attach", other, []string{"attach", d.host(), id}, 255, "unknown_job"},
		{"other key kill", other, []string{"kill", d.host(), id}, 255, "unknown_job"},
		{"unknown job", home, []string{"attach", d.host(), "0123456789abcdef"}, 255, "unknown_job"},
		{"bad job id", home, []string{"attach", d.host(), "../etc"}, 2, "job id"},
		{"offset past the end", home, []string{"attach", "--from", "5", d.host(), id}, 255, "past the end"},
		{"tail and from", home, []string{"attach", "--tail", "5", "--from", "1", d.host(), id}, 2, "exclusive"},
		{"bad signal", home, []string{"kill", "-s", "NOPE", d.host(), id}, 255, "unknown signal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rexec(t, tt.home, nil, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.msg) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
				t.Errorf("%v = %d %q; want %d and one line with %q", tt.args, r.code, r.stderr, tt.code, tt.msg)
			}
		})
	}
	if info := jobsJSON(t, home, d.host()); len(info) != 1 || info[0]["state"] != "running" {
		t.Errorf("the other key's attempts changed the job: %v", info)
	}
	rexec(t, home, nil, "kill", "-s", "KILL", d.host(), id)
}

// TestJobCap: a job printing far past its cap keeps at most the cap on
// disk, and attach reports exactly the dropped range before the rest.
func TestJobCap(t *testing.T) {
	home := t.TempDir()
	const capBytes = 1 << 20
	d := startDaemon(t, home, "--job-spool-max", strconv.Itoa(capBytes))
	// 8 MiB of stdout
	id := jobID(t, rexec(t, home, nil, "run", "--detach", d.host(), "head -c 8388608 /dev/zero | tr '\\0' x"))
	info := waitEnded(t, home, d.host(), id)
	dropped := int64(info["stdout_dropped"].(float64))
	if dropped < 8<<20-capBytes || info["stdout_bytes"] != float64(8<<20) {
		t.Fatalf("job listed as %v", info)
	}
	var use int64
	filepath.Walk(filepath.Join(home, "jobs", id), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && fi.Name() != "meta.json" {
			use += fi.Size()
		}
		return nil
	})
	if use > capBytes {
		t.Errorf("%d bytes on disk, cap %d", use, capBytes)
	}
	r := rexec(t, home, nil, "attach", d.host(), id)
	wantNote := fmt.Sprintf("stdout bytes 0 to %d (%d bytes) were dropped", dropped, dropped)
	if r.code != 0 || int64(len(r.stdout)) != 8<<20-dropped || strings.Trim(r.stdout, "x") != "" || !strings.Contains(r.stderr, wantNote) {
		t.Errorf("attach = %d, %d bytes, stderr %q; want %d bytes and %q", r.code, len(r.stdout), r.stderr, 8<<20-dropped, wantNote)
	}
}

// TestJobsSurviveRestart: a job running when the daemon stops is ended
// with a recorded outcome; after a restart its outcome and output are
// still there.
func TestJobsSurviveRestart(t *testing.T) {
	home := t.TempDir()
	d := startDaemon(t, home, "--grace", "100ms")
	id := jobID(t, rexec(t, home, nil, "run", "--detach", d.host(), "echo before; sleep 300"))
	done := jobID(t, rexec(t, home, nil, "run", "--detach", d.host(), "echo finished; exit 4"))
	waitEnded(t, home, d.host(), done)
	if !rexectest.Eventually(10*time.Second, func() bool {
		return jobsJSON(t, home, d.host())[0]["stdout_bytes"] == 7.0
	}) {
		t.Fatal("the running job's output never reached its spool")
	}
	d.Stop(t)
	d2 := startDaemon(t, home, "--listen", "127.0.0.1:"+d.Port())
	for _, tt := range []struct {
		id, out, outcome string
		code             int
	}{{id, "before\n", "signaled", 143}, {done, "finished\n", "exited", 4}} {
		info := waitEnded(t, home, d2.host(), tt.id)
		if info["outcome"] != tt.outcome {
			t.Errorf("job %s after restart: %v", tt.id, info)
		}
		if r := rexec(t, home, nil, "attach", d2.host(), tt.id); r.code != tt.code || r.stdout != tt.out {
			t.Errorf("attach %s after restart = %d %q %q", tt.id, r.code, r.stdout, r.stderr)
		}
	}
}

// TestJobExpiresUnlisted: a finished job's directory leaves the daemon's
// disk once --job-ttl has passed, though nobody lists, attaches to or
// starts a job (the daemon's periodic sweep, not a lazy expiry).
func TestJobExpiresUnlisted(t *testing.T) {
	home := t.TempDir()
	const ttl = time.Second
	d := startDaemon(t, home, "--job-ttl", ttl.String())
	id := jobID(t, rexec(t, home, nil, "run", "--detach", d.host(), "echo done"))
	dir := filepath.Join(home, "jobs", id)
	meta := filepath.Join(dir, "meta.json")
	var ended time.Time
	if !rexectest.Eventually(30*time.Second, func() bool {
		var m struct {
			Ended time.Time `json:"ended"`
		}
		b, err := os.ReadFile(meta)
		if err == nil && json.Unmarshal(b, &m) == nil && !m.Ended.IsZero() {
			ended = m.Ended
			return true
		}
		return false
	}) {
		t.Fatalf("job %s never recorded its end in %s", id, meta)
	}
	if !rexectest.Eventually(ttl+30*time.Second, func() bool {
		_, err := os.Stat(dir)
		return errors.Is(err, fs.ErrNotExist)
	}) {
		t.Fatalf("job %s still on disk %v after it ended, --job-ttl %v", id, time.Since(ended), ttl)
	}
	if early := time.Since(ended); early < ttl {
		t.Errorf("job %s removed %v after it ended, before --job-ttl %v", id, early, ttl)
	}
}
