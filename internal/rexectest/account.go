package rexectest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"testing"
	"time"
)

// accountTimeout bounds one useradd, usermod, groupadd or userdel.
const accountTimeout = 30 * time.Second

// Account is a local account a test created and removes when it ends.
type Account struct {
	Name     string
	UID, GID int
	Home     string
}

// AccountOptions shape NewAccount's account: its login shell ("" means
// /bin/bash), the supplementary groups it joins, and whether its
// password stays locked ("!", as useradd leaves it) instead of "*" (no
// password, keys only).
type AccountOptions struct {
	Shell  string
	Groups []string
	Locked bool
}

// NewAccount creates a local account with useradd (a home directory of
// its own, a group of its own), named "rx" and random hex so that tests
// running at once never collide, and removes it (userdel -r, and its
// processes) at cleanup. It needs root: outside it the test is skipped,
// in CI it fails (SkipOrFail).
func NewAccount(t testing.TB, o AccountOptions) *Account {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "creating accounts needs root")
	}
	name := "rx" + randomHex(5)
	shell := o.Shell
	if shell == "" {
		shell = "/bin/bash"
	}
	args := []string{"--create-home", "--user-group", "--shell", shell, "--comment", "rexec test account"}
	if len(o.Groups) > 0 {
		args = append(args, "--groups", strings.Join(o.Groups, ","))
	}
	runAdmin(t, "useradd", append(args, name)...)
	t.Cleanup(func() {
		_ = exec.Command("pkill", "-KILL", "-u", name).Run()
		time.Sleep(50 * time.Millisecond)
		_ = exec.Command("userdel", "--remove", "--force", name).Run()
	})
	if !o.Locked {
		runAdmin(t, "usermod", "--password", "*", name)
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &Account{Name: name, UID: uid, GID: gid, Home: u.HomeDir}
}

// NewGroup creates a local group (groupadd) that the test removes at
// cleanup, and returns its name.
func NewGroup(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "creating groups needs root")
	}
	name := "rxg" + randomHex(5)
	runAdmin(t, "groupadd", name)
	t.Cleanup(func() { _ = exec.Command("groupdel", name).Run() })
	return name
}

// runAdmin runs an account tool, failing the test with its output.
func runAdmin(t testing.TB, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.WaitDelay = accountTimeout
	timer := time.AfterFunc(accountTimeout, func() {
		if cmd.Process != nil {
			_ = cmd.Process.Kill()
		}
	})
	defer timer.Stop()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v: %s", name, args, err, out)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
