package legacy

// Tests that look at processes through /proc: the client leaving kills
// the command's tree, and no child of ours is left unreaped.

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// procState returns the state letter of pid and its parent, ok false when
// the process is gone.
func procState(pid int) (state byte, ppid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	return f[0][0], ppid, true
}

// running reports whether pid exists and is not a zombie.
func running(pid int) bool {
	state, _, ok := procState(pid)
	return ok && state != 'Z'
}

// zombieChildren lists children of this test process in state Z.
func zombieChildren(t *testing.T) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var zombies []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if state, ppid, ok := procState(pid); ok && state == 'Z' && ppid == os.Getpid() {
			zombies = append(zombies, pid)
		}
	}
	return zombies
}

// readPids waits for file to hold n pids, one a line.
func readPids(t *testing.T, file string, n int) []int {
	t.Helper()
	var pids []int
	ok := waitFor(testTimeout, func() bool {
		b, _ := os.ReadFile(file)
		pids = pids[:0]
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		return len(pids) >= n
	})
	if !ok {
		t.Fatalf("%s never held %d pids", file, n)
	}
	return pids
}

// TestClientLeavingDoesNotCrashServer: the lesson's client is killed while
// its command (a shell with a background child) runs. The server kills
// the whole tree and goes on serving.
func TestClientLeavingDoesNotCrashServer(t *testing.T) {
	srv := startServer(t, nil)
	pidFile := filepath.Join(t.TempDir(), "pids")
	c := dialRaw(t, srv.addr)
	c.Write([]byte(`sleep 30 & echo $! > ` + pidFile + `; echo $$ >> ` + pidFile + `; wait`))
	pids := readPids(t, pidFile, 2)
	c.Close()
	for _, pid := range pids {
		if !waitFor(10*time.Second, func() bool { return !running(pid) }) {
			t.Errorf("process %d of the abandoned command still runs", pid)
		}
	}
	out, _, err := runOurs(t, &Client{Addr: srv.addr, HideHeader: true}, "echo still here")
	if err != nil || out != "still here\n" {
		t.Errorf("next client: %q, %v; want %q", out, err, "still here\n")
	}
	if !strings.Contains(srv.logs.String(), "legacy command killed") {
		t.Errorf("log %q does not record the kill", srv.logs.String())
	}
}

// TestSeedClientLeavingDoesNotCrashServer: the same with the lesson's own
// client, killed by SIGKILL while it waits for the reply.
func TestSeedClientLeavingDoesNotCrashServer(t *testing.T) {
	srv := startServer(t, nil)
	pidFile := filepath.Join(t.TempDir(), "pids")
	py := pythonCmd(t, srv.port, "client_once.py", `echo $$ > `+pidFile+`; exec sleep 30`)
	if err := py.Start(); err != nil {
		t.Fatal(err)
	}
	pids := readPids(t, pidFile, 1)
	py.Process.Kill()
	py.Wait()
	if !waitFor(10*time.Second, func() bool { return !running(pids[0]) }) {
		t.Errorf("command %d still runs after its client died", pids[0])
	}
	out, err := runPython(t, srv.port, "", "client_once.py", "echo again")
	if _, body, _ := lessonReply(t, out); err != nil || body != "again\n" {
		t.Errorf("next lesson client: %q, %v", out, err)
	}
}

// TestNoZombieChildren: after commands that exit, are killed, leave
// background children or fail to start, no child of ours is a zombie.
func TestNoZombieChildren(t *testing.T) {
	srv := startServer(t, &Server{CommandTimeout: 300 * time.Millisecond})
	commands := []string{"true", "exit 7", "sleep 0.1 & echo bg", "sleep 30", "kill -9 $$", "echo \x00nul"}
	for _, cmd := range commands {
		if _, _, err := runOurs(t, &Client{Addr: srv.addr}, cmd); err != nil {
			t.Errorf("Run(%q) = %v", cmd, err)
		}
	}
	c := dialRaw(t, srv.addr)
	c.Write([]byte("sleep 30"))
	time.Sleep(100 * time.Millisecond)
	c.Close()
	if !waitFor(testTimeout, func() bool { return strings.Count(srv.logs.String(), "legacy client done") == len(commands)+1 }) {
		t.Errorf("the abandoned command was not ended; log:\n%s", srv.logs.String())
	}
	if err := srv.stop(); err != nil {
		t.Fatalf("Serve = %v", err)
	}
	if !waitFor(2*time.Second, func() bool { return len(zombieChildren(t)) == 0 }) {
		t.Errorf("zombie children left: %v", zombieChildren(t))
	}
}
