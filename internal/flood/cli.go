package flood

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
)

// Main is the command line of cmd/rexec-flood: it parses args (without
// the program name) into a Config, runs it with the report on stdout, and
// returns the exit status: 0 after a run, 1 when the run failed, 2 for a
// usage error (told on stderr).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseArgs(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "rexec-flood:", err)
		}
		return 2
	}
	if _, err := Run(ctx, cfg, stdout); err != nil {
		fmt.Fprintln(stderr, "rexec-flood:", err)
		return 1
	}
	return 0
}

const usage = `usage: rexec-flood [flags] ADDR

Opens --conns TCP connections to ADDR from --from and holds them, sending
nothing (idle), one byte every --drip-every (drip) or garbage; reports as
JSON lines when the server closed each, and a summary at the end. The run
ends once the server closed every connection, or after --hold.

`

func parseArgs(args []string, stderr io.Writer) (Config, error) {
	var cfg Config
	var from, mode string
	fs := flag.NewFlagSet("rexec-flood", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	fs.IntVar(&cfg.Conns, "conns", 1000, "connections to open")
	fs.StringVar(&from, "from", "", "source address to bind (default: the kernel's choice)")
	fs.StringVar(&mode, "mode", string(Idle), "idle, drip or garbage")
	fs.DurationVar(&cfg.DripEvery, "drip-every", DefaultDripEvery, "drip interval")
	fs.DurationVar(&cfg.Hold, "hold", DefaultHold, "end the run after this long")
	fs.IntVar(&cfg.Concurrency, "concurrency", DefaultConcurrency, "dials in flight at once")
	fs.DurationVar(&cfg.DialTimeout, "dial-timeout", DefaultDialTimeout, "bound of one dial")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return cfg, fmt.Errorf("want one ADDR, got %d arguments", fs.NArg())
	}
	cfg.Addr, cfg.Mode = fs.Arg(0), Mode(mode)
	if from != "" {
		a, err := netip.ParseAddr(from)
		if err != nil {
			return cfg, fmt.Errorf("--from: %w", err)
		}
		cfg.From = a
	}
	_, err := cfg.withDefaults()
	return cfg, err
}
