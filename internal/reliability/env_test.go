//go:build linux

package reliability

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/faultproxy"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/rexectest"
	"github.com/rexec-dev/rexec/internal/server"
)

// Bounds of one damaged connection: a flip in a TLS length field makes a
// peer wait for bytes that never come, so every wait is short and counted
// (the tests run connections in parallel to hide it).
const (
	connectTimeout = 3 * time.Second // client: TCP, TLS, hello
	loginGrace     = 3 * time.Second // server: accept to authenticated
	runTimeout     = 5 * time.Second // client: one Run
	settle         = 15 * time.Second
)

var serverLog = flag.Bool("serverlog", false, "send the server's log to stderr")

// runs picks how many connections a fault test makes: -short, the default
// (make test, CI), or REXEC_RELIABILITY_FULL=1 (rexectest.Scale).
func runs(short, def, full int) int { return rexectest.Scale(short, def, full) }

// newRand returns the test's random source, seeded from
// REXEC_RELIABILITY_SEED when set (to replay a failure), and logs the seed.
func newRand(t *testing.T) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("REXEC_RELIABILITY_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("REXEC_RELIABILITY_SEED=%q: %v", s, err)
		}
		seed = n
	}
	t.Logf("seed %d (REXEC_RELIABILITY_SEED=%d replays this run)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// target is the name the client connects to; its Dialer goes to whatever
// proxy the test chose, so one known_hosts line serves every proxy.
var target = client.Target{Host: "rexec-test", Port: client.DefaultPort}

// env is an in-process server on 127.0.0.1 and a client configuration
// that trusts it and is authorized by it.
type env struct {
	srv    *server.Server
	addr   string
	dir    string
	client client.Config
	ids    *sessionIDs   // of every session the server started
	limit  time.Duration // bound of one connection's act; runTimeout unless set
}

// sessionIDs is a slog.Handler that keeps the id of every session the
// server logs as started (its cgroup is rexec-<id>), and passes records on
// to next when set.
type sessionIDs struct {
	next slog.Handler
	mu   sync.Mutex
	ids  []string
}

func (h *sessionIDs) Enabled(ctx context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *sessionIDs) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "session started" {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "id" {
				h.mu.Lock()
				h.ids = append(h.ids, a.Value.String())
				h.mu.Unlock()
			}
			return true
		})
	}
	if h.next != nil {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *sessionIDs) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *sessionIDs) WithGroup(string) slog.Handler      { return h }

func (h *sessionIDs) list() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ids)
}

func startEnv(t *testing.T, cfg server.Config) *env {
	t.Helper()
	dir := t.TempDir()
	host, err := auth.GenerateIdentity("host")
	if err != nil {
		t.Fatal(err)
	}
	id, err := auth.GenerateIdentity("client@reliability")
	if err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(dir, "authorized_keys")
	if _, err := auth.AppendAuthorizedKey(keys, id.Public, id.Comment); err != nil {
		t.Fatal(err)
	}
	known := auth.KnownHosts{Path: filepath.Join(dir, "known_hosts")}
	if err := known.Add([]string{target.Addr()}, host.Public); err != nil {
		t.Fatal(err)
	}
	cfg.HostKey, cfg.AuthorizedKeysPath = host, keys
	cfg.Penalties.Disabled = true // every damaged handshake comes from 127.0.0.1
	if cfg.LoginGrace == 0 {
		cfg.LoginGrace = loginGrace
	}
	if cfg.KillGrace == 0 {
		cfg.KillGrace = 100 * time.Millisecond
	}
	ids := &sessionIDs{}
	if *serverLog {
		ids.next = slog.NewTextHandler(os.Stderr, nil)
	}
	cfg.Logger = slog.New(ids)
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	served := rexectest.ServeLoopback(t, srv.Serve, srv.Close, server.ErrServerClosed)
	return &env{srv: srv, addr: served.Addr, dir: dir, ids: ids, client: client.Config{
		Identity: id, KnownHosts: known, ConnectTimeout: connectTimeout, Software: "rexec-reliability"}}
}

// dialVia connects the client to the server through the proxy at addr.
func (e *env) dialVia(ctx context.Context, addr string) (*client.Conn, error) {
	cfg := e.client
	cfg.Dialer = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	return client.Dial(ctx, cfg, target)
}

// proxied is one connection through its own proxy: what the client saw
// and what the proxy did.
type proxied struct {
	link   *faultproxy.Link
	dialed bool // Dial succeeded
	res    client.Result
	err    error // Dial's or Run's
	// at the end of Dial (hello exchanged) and of Run: bytes read from
	// each direction's sender so far
	helloUp, helloDown int64
	runUp, runDown     int64
}

// session runs one exec through a new proxy with plan and closes it all.
// onStdout, when set, sees each stdout write and may cancel the run.
func (e *env) session(plan faultproxy.Plan, cmd string, onStdout func([]byte, context.CancelFunc)) (*proxied, error) {
	var res client.Result
	r, err := e.through(plan, func(ctx context.Context, cancel context.CancelFunc, c *client.Conn) error {
		out := writerFunc(func(b []byte) {
			if onStdout != nil {
				onStdout(b, cancel)
			}
		})
		var err error
		res, err = c.Run(ctx, protocol.Exec{Command: cmd}, client.IO{Stdout: out, Stderr: writerFunc(nil)})
		return err
	})
	if r != nil {
		r.res = res
	}
	return r, err
}

// through connects through a new proxy with plan, does act on the
// connection (bounded by runTimeout), and closes it all.
func (e *env) through(plan faultproxy.Plan, act func(context.Context, context.CancelFunc, *client.Conn) error) (*proxied, error) {
	p, err := faultproxy.Listen(e.addr, func(int) faultproxy.Plan { return plan })
	if err != nil {
		return nil, err
	}
	limit := e.limit
	if limit == 0 {
		limit = runTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	link := func() *faultproxy.Link {
		if ls := p.Links(); len(ls) > 0 {
			return ls[0]
		}
		return nil
	}
	r := &proxied{}
	c, err := e.dialVia(ctx, p.Addr())
	if err == nil {
		// Dial pipelines: wait for the server's hello here, so that the
		// hello exchange is part of dialing and the stream's layout
		// (hello, then exec) is the same in every run.
		if err = c.Ready(); err != nil {
			c.Close()
		}
	}
	if err == nil {
		r.dialed = true
		if l := link(); l != nil {
			r.helloUp, r.helloDown = l.Read(faultproxy.Up), l.Read(faultproxy.Down)
		}
		err = act(ctx, cancel, c)
		if l := link(); l != nil {
			r.runUp, r.runDown = l.Read(faultproxy.Up), l.Read(faultproxy.Down)
		}
		c.Close()
	}
	r.err = err
	if cerr := p.Close(); cerr != nil {
		return nil, cerr
	}
	r.link = link()
	if r.link == nil {
		return nil, errors.New("the proxy accepted no connection")
	}
	return r, nil
}

// writerFunc is an io.Writer that hands every write to f (nil: discard).
type writerFunc func([]byte)

func (f writerFunc) Write(b []byte) (int, error) {
	if f != nil {
		f(b)
	}
	return len(b), nil
}

// recordEnds returns the end offset of every complete TLS record in b
// (5-byte header: type, version, uint16 length).
func recordEnds(b []byte) []int64 {
	var ends []int64
	for off := 0; off+5 <= len(b); {
		off += 5 + (int(b[off+3])<<8 | int(b[off+4]))
		if off > len(b) {
			break
		}
		ends = append(ends, int64(off))
	}
	return ends
}

// recordEnd returns the end of record i, or -1 when the stream has no
// complete record i.
func recordEnd(ends []int64, i int) int64 {
	if i < 0 || i >= len(ends) {
		return -1
	}
	return ends[i]
}

// recordAt returns the index of the record holding byte off, or -1.
func recordAt(ends []int64, off int64) int {
	for i, end := range ends {
		if off < end {
			return i
		}
	}
	return -1
}

// layout is where the milestones of a faithful conversation fall in the
// TLS stream, as record indices (constant for a Go peer) and offsets.
type layout struct {
	execRec, helloUpRec    int   // client→server: the exec record, the client's hello
	helloDownRec, exitRec  int   // server→client: the server's hello and the exit
	upApp, downApp         int64 // where each direction's first application record starts
	upTotal, downTotal     int64
	upRecords, downRecords int
}

// measure runs cmd faithfully through a recording proxy and finds the
// records of hello, exec and exit. onStdout may end the run (a command
// that does not exit); then exitRec is -1.
func (e *env) measure(t *testing.T, cmd string, onStdout func([]byte, context.CancelFunc)) layout {
	t.Helper()
	r, err := e.session(faultproxy.Plan{Record: true}, cmd, onStdout)
	if err != nil {
		t.Fatal(err)
	}
	if !r.dialed {
		t.Fatalf("faithful connection: %v", r.err)
	}
	up, down := recordEnds(r.link.Recorded(faultproxy.Up)), recordEnds(r.link.Recorded(faultproxy.Down))
	l := layout{helloUpRec: indexOf(up, r.helloUp), helloDownRec: indexOf(down, r.helloDown),
		exitRec: -1, upTotal: r.runUp, downTotal: r.runDown, upRecords: len(up), downRecords: len(down)}
	l.execRec = l.helloUpRec + 1
	if r.err == nil {
		l.exitRec = indexOf(down, r.runDown)
	}
	if l.helloUpRec < 1 || l.helloDownRec < 1 || l.execRec >= len(up) || (r.err == nil && l.exitRec < 0) {
		t.Fatalf("cannot place hello/exec/exit in the TLS records: up ends %v (hello at %d), down ends %v (hello at %d, run end %d)",
			up, r.helloUp, down, r.helloDown, r.runDown)
	}
	l.upApp, l.downApp = up[l.helloUpRec-1], down[l.helloDownRec-1]
	return l
}

func indexOf(ends []int64, off int64) int {
	for i, end := range ends {
		if end == off {
			return i
		}
	}
	return -1
}

// markers is a directory where commands leave marker files.
type markers string

func (m markers) cmd(i int) string { return "touch " + m.path(i) }
func (m markers) path(i int) string {
	return filepath.Join(string(m), "marker-"+strconv.Itoa(i))
}
func (m markers) exists(i int) bool {
	_, err := os.Stat(m.path(i))
	return err == nil
}

// --- leaks: goroutines, file descriptors, processes, cgroups ---

// snapshot is what must come back to its level once every connection is
// gone.
type snapshot struct {
	goroutines int
	fds        []string
}

func takeSnapshot() snapshot {
	return snapshot{goroutines: runtime.NumGoroutine(), fds: openFDs()}
}

// quiet waits until the goroutines and descriptors have been
// steady for a moment (the last connection's server side is gone) and
// returns them: the level every later check must come back to.
func quiet(t *testing.T) snapshot {
	t.Helper()
	prev := takeSnapshot()
	var now snapshot
	if !rexectest.Eventually(settle, func() bool {
		time.Sleep(100 * time.Millisecond)
		now = takeSnapshot()
		same := now.goroutines == prev.goroutines && slices.Equal(now.fds, prev.fds)
		prev = now
		return same
	}) {
		t.Fatalf("goroutines and descriptors never settled before the test")
	}
	return now
}

// openFDs lists this process's descriptors with what they point to.
func openFDs() []string {
	ents, _ := os.ReadDir("/proc/self/fd")
	var fds []string
	for _, e := range ents {
		dst, _ := os.Readlink("/proc/self/fd/" + e.Name())
		fds = append(fds, e.Name()+" -> "+dst)
	}
	return fds
}

// leftCgroups returns the cgroups of the given sessions that still exist
// under this process's cgroup v2 (other processes' sessions may share the
// directory, so only ours are looked for): rexec-ID, or rexec-PID-START-ID
// with the owner in the name.
func leftCgroups(ids []string) []string {
	var left []string
	for _, dir := range cgroupDirs() {
		for _, id := range ids {
			for _, pattern := range []string{"rexec-" + id, "rexec-*-*-" + id} {
				found, _ := filepath.Glob(filepath.Join(dir, pattern))
				left = append(left, found...)
			}
		}
	}
	return left
}

// cgroupDirs returns where this process's session cgroups would be made.
func cgroupDirs() []string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil
	}
	var found []string
	for _, line := range strings.Split(string(b), "\n") {
		rel, ok := strings.CutPrefix(line, "0::")
		if !ok {
			continue
		}
		for _, root := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
			found = append(found, filepath.Join(root, rel))
		}
	}
	return found
}

// checkSettled waits (bounded) until no session process is left, the
// goroutines and descriptors are back to before and no session's cgroup
// is left, and fails the test with what is left otherwise.
func (e *env) checkSettled(t *testing.T, before snapshot) {
	t.Helper()
	if left := rexectest.WaitNoSessionProcs(settle); len(left) > 0 {
		t.Errorf("session processes left: %v", rexectest.Describe(left))
	}
	var now snapshot
	var cgroups []string
	ok := rexectest.Eventually(settle, func() bool {
		now, cgroups = takeSnapshot(), leftCgroups(e.ids.list())
		return now.goroutines <= before.goroutines && slices.Equal(now.fds, before.fds) && len(cgroups) == 0
	})
	if ok {
		return
	}
	if now.goroutines > before.goroutines {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines, %d before; stacks:\n%s", now.goroutines, before.goroutines, buf[:runtime.Stack(buf, true)])
	}
	if !slices.Equal(now.fds, before.fds) {
		t.Errorf("%d open descriptors, %d before:\nnow    %v\nbefore %v", len(now.fds), len(before.fds), now.fds, before.fds)
	}
	if len(cgroups) > 0 {
		t.Errorf("session cgroups left: %v", cgroups)
	}
}
