package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/config"
	"github.com/rexec-dev/rexec/internal/legacy"
	"github.com/rexec-dev/rexec/internal/server"
	"github.com/rexec-dev/rexec/internal/session"
	"github.com/rexec-dev/rexec/internal/transport"
)

// DefaultListen is where `rexec serve` listens without --listen (SPEC §4):
// loopback only, so a first run exposes nothing.
const DefaultListen = "127.0.0.1:7022"

// DefaultDrainGrace is how long running sessions may finish after SIGTERM
// before their process trees are killed (SPEC §4).
const DefaultDrainGrace = 30 * time.Second

type serveOpts struct {
	listen            []string
	stdio             bool
	grace             time.Duration
	logFormat         string
	legacyListen      string
	legacyAllowRemote bool
}

func newServeCmd(g *globals, env Env) *cobra.Command {
	o := &serveOpts{}
	cmd := &cobra.Command{
		Use:   "serve [--listen ADDR]...",
		Short: "Run the rexec daemon",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), g, o, env)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.listen, "listen", nil, "address to listen on, repeatable (default "+DefaultListen+")")
	f.BoolVar(&o.stdio, "stdio", false, "serve one connection on stdin/stdout (like sshd -i)")
	f.DurationVar(&o.grace, "grace", DefaultDrainGrace, "on SIGTERM, how long sessions may finish before they are killed")
	f.StringVar(&o.logFormat, "log-format", "auto", "log format: text, json, or auto (text on a terminal)")
	f.StringVar(&o.legacyListen, "legacy-listen", "", "also serve the lesson's plain protocol on ADDR (unauthenticated; loopback only)")
	f.BoolVar(&o.legacyAllowRemote, "legacy-allow-remote", false, "allow --legacy-listen on a non-loopback address")
	return cmd
}

func serve(ctx context.Context, g *globals, o *serveOpts, env Env) error {
	h, err := g.resolveHome()
	if err != nil {
		return err
	}
	log, err := newLogger(o.logFormat, env)
	if err != nil {
		return fail(2, err)
	}
	hostKey, created, err := auth.EnsureIdentity(h.Path(config.HostKeyFile), "rexec-host@"+hostname())
	if err != nil {
		return fail(1, fmt.Errorf("host key: %w", err))
	}
	if created {
		log.Info("created host key", "path", h.Path(config.HostKeyFile), "fingerprint", auth.Fingerprint(hostKey.Public))
		if err := authorizeOwnIdentity(h, log); err != nil {
			return fail(1, err)
		}
	}
	srv, err := server.New(server.Config{HostKey: hostKey, Logger: log, Software: "rexec/" + version(),
		AuthorizedKeysPath: h.Path(config.AuthorizedKeysFile)})
	if err != nil {
		return fail(1, err)
	}
	stopReaper, err := session.EnableSubreaper(ctx)
	if err != nil {
		log.Warn("orphaned descendants will not be reaped by the daemon", "err", err)
	} else {
		defer stopReaper()
	}
	if o.stdio {
		srv.ServeConn(transport.Stdio())
		return nil
	}
	lns, err := listenAll(o.listen)
	if err != nil {
		return fail(1, err)
	}
	legacyLn, err := listenLegacy(o)
	if err != nil {
		closeAll(lns)
		return fail(1, err)
	}
	pinOwnHostKey(h, hostKey, lns, log)
	announce(env, lns, hostKey)
	if legacyLn != nil {
		fmt.Fprintf(env.Stderr, "rexec: lesson protocol (unauthenticated plaintext) on %s\n", legacyLn.Addr())
	}
	return runUntilSignalled(ctx, srv, lns, legacyLn, o.grace, log)
}

// listenLegacy binds --legacy-listen, refusing a non-loopback address
// without --legacy-allow-remote: that listener runs commands for anyone.
func listenLegacy(o *serveOpts) (net.Listener, error) {
	if o.legacyListen == "" {
		return nil, nil
	}
	if err := legacy.CheckListenAddr(o.legacyListen, o.legacyAllowRemote); err != nil {
		return nil, fmt.Errorf("%w (--legacy-allow-remote)", err)
	}
	return net.Listen("tcp", o.legacyListen)
}

func closeAll(lns []net.Listener) {
	for _, l := range lns {
		l.Close()
	}
}

// listenAll binds every address, or none: a daemon half-listening would
// confuse whoever reads its log.
func listenAll(addrs []string) ([]net.Listener, error) {
	if len(addrs) == 0 {
		addrs = []string{DefaultListen}
	}
	var lns []net.Listener
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			closeAll(lns)
			return nil, err
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// authorizeOwnIdentity is the zero-config first run (SPEC §2): the local
// user's identity is created if missing and authorized on this daemon.
func authorizeOwnIdentity(h config.Home, log *slog.Logger) error {
	id, created, err := auth.EnsureIdentity(h.Path(config.IdentityFile), defaultComment())
	if err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	if created {
		log.Info("created your identity", "path", h.Path(config.IdentityFile), "fingerprint", auth.Fingerprint(id.Public))
	}
	if _, err := auth.AppendAuthorizedKey(h.Path(config.AuthorizedKeysFile), id.Public, id.Comment); err != nil {
		return fmt.Errorf("authorizing your identity: %w", err)
	}
	return nil
}

// pinOwnHostKey pins the daemon's key in the local known_hosts for its
// listen addresses and localhost, where nothing is pinned yet. The key was
// read from this machine's disk, so this is no leap of faith; a different
// key already pinned is left alone (and the client will say so).
func pinOwnHostKey(h config.Home, id *auth.Identity, lns []net.Listener, log *slog.Logger) {
	kh := auth.KnownHosts{Path: h.Path(config.KnownHostsFile)}
	for _, ln := range lns {
		ta, ok := ln.Addr().(*net.TCPAddr)
		if !ok {
			continue
		}
		for _, host := range pinNames(ta.IP) {
			err := kh.Check(host, ta.Port, id.Public)
			var unknown *auth.UnknownHostError
			if !errors.As(err, &unknown) {
				continue
			}
			addr := net.JoinHostPort(host, strconv.Itoa(ta.Port))
			if err := kh.Add([]string{addr}, id.Public); err != nil {
				log.Warn("could not pin own host key", "addr", addr, "err", err)
			}
		}
	}
}

// pinNames are the names a local client will use for a listen address.
func pinNames(ip net.IP) []string {
	switch {
	case ip.IsUnspecified():
		return []string{"localhost", "127.0.0.1", "::1"}
	case ip.IsLoopback():
		return []string{"localhost", ip.String()}
	}
	return []string{ip.String()}
}

// announce tells a first-time user how to connect.
func announce(env Env, lns []net.Listener, id *auth.Identity) {
	for _, ln := range lns {
		fmt.Fprintf(env.Stderr, "rexec: serving on %s, host key %s\n", ln.Addr(), auth.Fingerprint(id.Public))
	}
	ta, _ := lns[0].Addr().(*net.TCPAddr)
	host := "localhost"
	if ta != nil && ta.Port != client.DefaultPort {
		host = net.JoinHostPort(host, strconv.Itoa(ta.Port))
	}
	fmt.Fprintf(env.Stderr, "rexec: try: rexec run %s -- uname -a\n", host)
}

// runUntilSignalled serves until SIGTERM/SIGINT or ctx, then drains: stop
// accepting, let sessions finish for grace, then kill what is left. A
// second signal kills at once.
func runUntilSignalled(ctx context.Context, srv *server.Server, lns []net.Listener, legacyLn net.Listener,
	grace time.Duration, log *slog.Logger) error {
	sigc := make(chan os.Signal, 2)
	signal.Notify(sigc, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigc)
	errc := make(chan error, len(lns))
	var wg sync.WaitGroup
	for _, ln := range lns {
		wg.Add(1)
		go func() { defer wg.Done(); errc <- srv.Serve(ln) }()
	}
	legacyCtx, stopLegacy := context.WithCancel(context.Background())
	defer stopLegacy()
	if legacyLn != nil {
		ls := &legacy.Server{Logger: log.With("listener", "legacy")}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ls.Serve(legacyCtx, legacyLn); err != nil {
				log.Error("legacy listener failed", "err", err)
			}
		}()
	}
	hupc := make(chan os.Signal, 1)
	notifyHangup(hupc)
	defer signal.Stop(hupc)
	err := waitForStop(ctx, sigc, hupc, errc, grace, log, func() {
		if rerr := srv.Reload(); rerr != nil {
			log.Error("reload failed; keeping the previous authorized_keys", "err", rerr)
			return
		}
		log.Info("reloaded authorized_keys")
	})
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	go func() {
		select {
		case <-sigc:
			log.Info("second signal: killing every session now")
			cancel()
		case <-sctx.Done():
		}
	}()
	stopLegacy()
	if serr := srv.Shutdown(sctx); serr != nil {
		log.Info("grace period over: remaining sessions were killed")
	}
	wg.Wait()
	if err != nil && !errors.Is(err, server.ErrServerClosed) {
		return fail(1, err)
	}
	return nil
}

// waitForStop blocks until a stop signal, ctx or a failed listener, running
// reload on every SIGHUP meanwhile (running sessions are not touched).
func waitForStop(ctx context.Context, sigc, hupc <-chan os.Signal, errc <-chan error,
	grace time.Duration, log *slog.Logger, reload func()) error {
	for {
		select {
		case <-hupc:
			reload()
		case sig := <-sigc:
			log.Info("shutting down", "signal", sig.String(), "grace", grace)
			return nil
		case <-ctx.Done():
			log.Info("shutting down", "cause", context.Cause(ctx))
			return nil
		case err := <-errc:
			log.Error("listener failed", "err", err)
			return err
		}
	}
}

// newLogger builds the daemon's slog logger on stderr.
func newLogger(format string, env Env) (*slog.Logger, error) {
	switch format {
	case "auto":
		format = "json"
		if f, ok := env.Stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "text"
		}
	case "text", "json":
	default:
		return nil, fmt.Errorf("--log-format must be text, json or auto, not %q", format)
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(env.Stderr, nil)), nil
	}
	return slog.New(slog.NewJSONHandler(env.Stderr, nil)), nil
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return h
}
