package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/rexec-dev/rexec/internal/audit"
	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/config"
	"github.com/rexec-dev/rexec/internal/jobs"
	"github.com/rexec-dev/rexec/internal/legacy"
	"github.com/rexec-dev/rexec/internal/metrics"
	"github.com/rexec-dev/rexec/internal/sdnotify"
	"github.com/rexec-dev/rexec/internal/server"
	"github.com/rexec-dev/rexec/internal/session"
	"github.com/rexec-dev/rexec/internal/synwatch"
	"github.com/rexec-dev/rexec/internal/transport"
)

// daemon is one Run: it owns the listeners, the optional metrics server,
// the SYN watch and the legacy listener, and stops them all before run
// returns.
type daemon struct {
	settings   config.ServerFile // in force: file, then flags
	configPath string            // the file settings came from, re-read on SIGHUP ("" none)
	flags      config.Flags      // the command line's, laid over the file again on SIGHUP
	software   string            // server.Config.Software
	log        *slog.Logger
	stderr     io.Writer // announcements for the person who started the daemon
	home       config.Home
	hostKey    *auth.Identity
	legacy     *legacy.Server // the legacy listener's server, nil without --legacy-listen

	wg sync.WaitGroup // every goroutine run starts
}

func (d *daemon) run(ctx context.Context, cfg server.Config, stdio bool) error {
	if d.settings.Metrics != "" {
		cfg.Metrics = metrics.New()
	}
	store, err := jobs.Open(jobs.Config{Dir: d.home.Path(config.JobsDir), JobMax: int64(d.settings.JobSpoolMax),
		TotalMax: int64(d.settings.JobsSpoolTotal), TTL: d.settings.JobTTL})
	if err != nil {
		return err
	}
	cfg.Jobs = store
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	if cfg.Audit != nil {
		// deferred first, so it runs last: after the drain has written
		// the last end records
		defer d.watchAudit(cfg.Audit)()
	}
	d.sweepCgroups()
	if stop, err := session.EnableSubreaper(ctx); err != nil {
		d.log.Warn("orphaned descendants will not be reaped by the daemon", "err", err)
	} else {
		defer stop()
	}
	if stdio {
		srv.ServeConn(transport.Stdio())
		return nil
	}
	lns, legacyLn, err := d.listen()
	if err != nil {
		return err
	}
	bg, stopBG := context.WithCancel(ctx)
	defer func() { stopBG(); d.wg.Wait() }()
	d.wg.Add(1)
	go func() { defer d.wg.Done(); store.Sweep(bg) }() // finished jobs past job_ttl leave the disk
	if err := d.startMetrics(bg, cfg.Metrics, lns); err != nil {
		closeAll(lns)
		if legacyLn != nil {
			legacyLn.Close()
		}
		return err
	}
	pinOwnHostKey(d.home, d.hostKey, lns, d.log)
	announce(d.stderr, lns, d.hostKey)
	if legacyLn != nil {
		fmt.Fprintf(d.stderr, "rexec: lesson protocol (plaintext, no keys; clients checked by socket uid) on %s\n", legacyLn.Addr())
		d.startLegacy(bg, legacyLn, cfg.Audit)
	}
	return d.serveUntilStopped(ctx, srv, lns)
}

// sweepCgroups clears the session cgroups an earlier daemon left behind
// (session.SweepCgroups: only those whose daemon is gone) and logs each
// one whose processes it killed: each was somebody's command.
func (d *daemon) sweepCgroups() {
	res, err := session.SweepCgroups(session.StaleCgroupAge)
	if err != nil {
		d.log.Warn("could not look for session cgroups left by an earlier daemon", "err", err)
	}
	for _, k := range res.Killed {
		if k.Err != nil {
			d.log.Error("killed a session cgroup left by a killed daemon, but could not clear it",
				"cgroup", k.Name, "processes", k.Procs, "err", k.Err)
			continue
		}
		d.log.Warn("killed a session cgroup left by a killed daemon", "cgroup", k.Name, "processes", k.Procs)
	}
	if res.Removed > 0 {
		d.log.Info("removed empty session cgroups left by an earlier daemon", "count", res.Removed)
	}
}

// watchAudit logs the audit log's head to the daemon's log (the journal)
// as it moves and appends signed checkpoints if audit_checkpoint is set
// (audit.Watch), until the returned stop is called; stop writes the last
// checkpoint, logs the final head and waits for the goroutine. Compare a
// logged head with the file: `rexec audit verify --head SEQ:HASH FILE`.
func (d *daemon) watchAudit(l *audit.Log) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		audit.Watch(ctx, l, audit.WatchConfig{
			Report: func(h audit.Head) {
				d.log.Info("audit head", "seq", h.Seq, "hash", h.Hash, "head", h.String(), "path", l.Path())
			},
			CheckpointEvery: d.settings.AuditCheckpoint,
			Key:             d.hostKey.Private,
			Error:           func(err error) { d.log.Error("audit checkpoint not written", "err", err) },
		})
	}()
	return func() { cancel(); <-done }
}

// listen binds the rexec addresses and the legacy one, or nothing.
func (d *daemon) listen() ([]net.Listener, net.Listener, error) {
	lns, err := listenAll(d.settings.Listen)
	if err != nil {
		return nil, nil, err
	}
	if d.legacy == nil {
		return lns, nil, nil
	}
	ln, err := net.Listen("tcp", d.settings.LegacyListen)
	if err != nil {
		closeAll(lns)
		return nil, nil, err
	}
	return lns, ln, nil
}

// startMetrics serves /metrics when enabled, and runs the SYN-flood watch
// on the listen ports either way (its warnings belong in the log).
func (d *daemon) startMetrics(ctx context.Context, m *metrics.Metrics, lns []net.Listener) error {
	if m != nil {
		ms, err := m.Serve(ctx, d.settings.Metrics)
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		fmt.Fprintf(d.stderr, "rexec: metrics on http://%s/metrics\n", ms.Addr())
		d.wg.Add(1)
		go func() { defer d.wg.Done(); <-ctx.Done(); ms.Close() }()
	}
	sw := d.settings.SYNWatch
	w := synwatch.New(synwatch.Config{Ports: listenPorts(lns), Interval: sw.Interval,
		HalfOpenThreshold: sw.HalfOpenThreshold, CounterRise: int64(sw.CounterRise), Logger: d.log, Metrics: m})
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := w.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			d.log.Warn("SYN-flood watch stopped", "err", err)
		}
	}()
	return nil
}

// startLegacy serves the lesson's protocol on ln with d.legacy, writing
// its records to the daemon's audit log (nil: none).
func (d *daemon) startLegacy(ctx context.Context, ln net.Listener, log *audit.Log) {
	ls := d.legacy
	ls.Logger, ls.Audit = d.log.With("listener", "legacy"), log
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := ls.Serve(ctx, ln); err != nil && !errors.Is(err, net.ErrClosed) {
			d.log.Error("legacy listener failed", "err", err)
		}
	}()
}

// serveUntilStopped serves until SIGTERM/SIGINT or ctx, then drains: stop
// accepting, let sessions finish for the grace period, then kill what is
// left. A second signal kills at once. SIGHUP reloads meanwhile.
func (d *daemon) serveUntilStopped(ctx context.Context, srv *server.Server, lns []net.Listener) error {
	sigc := make(chan os.Signal, 2)
	signal.Notify(sigc, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigc)
	hupc := make(chan os.Signal, 1)
	notifyHangup(hupc)
	defer signal.Stop(hupc)
	errc := make(chan error, len(lns))
	var serving sync.WaitGroup
	for _, ln := range lns {
		serving.Add(1)
		go func() { defer serving.Done(); errc <- srv.Serve(ln) }()
	}
	d.notify(sdnotify.Ready)
	err := d.waitForStop(ctx, sigc, hupc, errc, func() { d.reload(srv) })
	d.notify(sdnotify.Stopping)
	sctx, cancel := context.WithTimeout(context.Background(), d.settings.Grace)
	secondDone := make(chan struct{})
	go func() {
		defer close(secondDone)
		select {
		case <-sigc:
			d.log.Info("second signal: killing every session now")
			cancel()
		case <-sctx.Done():
		}
	}()
	if serr := srv.Shutdown(sctx); serr != nil {
		d.log.Info("grace period over: remaining sessions were killed")
	}
	serving.Wait()
	cancel()
	<-secondDone
	if err != nil && !errors.Is(err, server.ErrServerClosed) {
		return err
	}
	return nil
}

// waitForStop blocks until a stop signal, ctx or a failed listener,
// running reload on every SIGHUP meanwhile.
func (d *daemon) waitForStop(ctx context.Context, sigc, hupc <-chan os.Signal, errc <-chan error, reload func()) error {
	for {
		select {
		case <-hupc:
			reload()
		case sig := <-sigc:
			d.log.Info("shutting down", "signal", sig.String(), "grace", d.settings.Grace)
			return nil
		case <-ctx.Done():
			d.log.Info("shutting down", "cause", context.Cause(ctx))
			return nil
		case err := <-errc:
			d.log.Error("listener failed", "err", err)
			return err
		}
	}
}

// liveSettings are the config keys a SIGHUP applies to the running
// server (Server.Reconfigure); any other change needs a restart.
var liveSettings = map[string]bool{"max_startups": true, "per_source_max": true, "penalty": true,
	"max_sessions": true, "max_sessions_per_key": true}

// reload re-reads authorized_keys and the config file (running sessions
// are untouched): the limits in liveSettings take effect at once; other
// changed settings are named in the log rather than silently ignored.
func (d *daemon) reload(srv *server.Server) {
	d.notify(sdnotify.Reloading)
	defer d.notify(sdnotify.Ready)
	if err := srv.Reload(); err == nil { // a file that fails was logged, and authorizes nobody
		d.log.Info("reloaded authorized_keys")
	}
	if d.configPath == "" {
		return
	}
	f, err := config.LoadServerFile(d.configPath)
	var settings config.ServerFile
	var cfg server.Config
	if err == nil {
		settings = d.flags.Over(f)
		err = settings.Validate()
	}
	if err == nil {
		cfg, err = serverConfig(settings, d.software)
	}
	if err != nil {
		d.log.Error("config file is invalid; keeping the running configuration", "err", err)
		return
	}
	srv.Reconfigure(cfg)
	for _, name := range config.ChangedSettings(d.settings, settings) {
		if liveSettings[name] {
			d.log.Info("applied changed setting", "setting", name)
			continue
		}
		d.log.Warn("setting changed in the config file; restart the daemon to apply it", "setting", name)
	}
	d.settings = settings
}

// notify tells systemd (Type=notify) about the daemon's state; without
// $NOTIFY_SOCKET it does nothing.
func (d *daemon) notify(state string) {
	if err := sdnotify.Notify(state); err != nil {
		d.log.Warn("sd_notify failed", "state", state, "err", err)
	}
}
