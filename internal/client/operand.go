package client

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/rexec-dev/rexec/internal/transfer"
)

// Operand is one SRC or DST of rexec cp (docs/CLI.md, cp), as ParseOperand
// reads it.
type Operand struct {
	// Remote is set for HOST:PATH.
	Remote bool
	// Host is the [user@]host part of a remote operand as written: a
	// name, an address ("[::1]" keeps its brackets) or a host pattern
	// (web[01-20]), for ParseTarget or fanout to read. It is empty for a
	// local operand and for the :PATH destination under --hosts.
	Host string
	// Path is the local path, or the remote one (relative to the remote
	// home unless absolute; "" is the home itself).
	Path string
}

// ParseOperand applies scp's rule: a colon before any slash makes the
// operand remote (host:path, user@host:path, [v6addr]:path); a leading
// colon is part of a local name, and ./a:b is the way to write a local
// name with a colon.
func ParseOperand(s string) Operand {
	bracket := strings.HasPrefix(s, "[")
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '@' && i+1 < len(s) && s[i+1] == '[':
			bracket = true
		case c == ']' && bracket && i+1 < len(s) && s[i+1] == ':':
			return Operand{Remote: true, Host: s[:i+1], Path: s[i+2:]}
		case c == ':' && bracket: // inside an IPv6 address
		case c == ':' && i > 0:
			return Operand{Remote: true, Host: s[:i], Path: s[i+1:]}
		case c == '/' || c == ':':
			return Operand{Path: s}
		}
	}
	return Operand{Path: s}
}

// CopyKind is what a cp command line asks for.
type CopyKind int

const (
	// Upload copies local sources to one host's Dest.
	Upload CopyKind = iota + 1
	// Download copies remote sources (from one host or several) to the
	// local Dest.
	Download
	// UploadMany copies local sources to every host of Dests.
	UploadMany
)

// CopyRules are what ParseCopy needs to know besides the operands.
type CopyRules struct {
	// HostsFile is set when the hosts come from a file (--hosts): the
	// destination is then :PATH, the same path on every host, and every
	// source is local.
	HostsFile bool
	// Many reports whether a single HOST:PATH destination still makes an
	// upload to many hosts: a host pattern naming several (web[1-3]), or a
	// flag only a fan-out has. nil: never. Several HOST:PATH
	// destinations always do.
	Many func(host string) bool
}

// CopyPlan is a cp command line classified by ParseCopy.
type CopyPlan struct {
	Kind CopyKind
	// Sources are the operands before the destination(s): local for an
	// upload, remote for a download.
	Sources []Operand
	// Dest is the destination of an Upload (remote) or a Download
	// (local).
	Dest Operand
	// Dests are UploadMany's destinations: the trailing HOST:PATH
	// operands, whose hosts may be patterns; or under CopyRules.HostsFile
	// the one :PATH, with an empty Host.
	Dests []Operand
}

// ParseCopy classifies cp's operands (at least a source and a
// destination): an upload to one host, an upload to many (several
// trailing HOST:PATH operands, a destination CopyRules.Many says is many,
// or :PATH with CopyRules.HostsFile), or a download. A local copy, a copy
// between remote hosts, or local and remote sources mixed are refused,
// each with a one-line error for the user.
func ParseCopy(args []string, r CopyRules) (CopyPlan, error) {
	if len(args) < 2 {
		return CopyPlan{}, errors.New("cp needs a source and a destination")
	}
	ops := make([]Operand, len(args))
	for i, a := range args {
		ops[i] = ParseOperand(a)
	}
	last := len(ops) - 1
	if r.HostsFile {
		switch {
		case !strings.HasPrefix(args[last], ":"):
			return CopyPlan{}, errors.New("with --hosts the destination is :PATH, the same path on every host")
		case anyRemote(ops[:last]):
			return CopyPlan{}, errors.New("with --hosts every source is local: copying from remote hosts to many is not supported")
		}
		return CopyPlan{Kind: UploadMany, Sources: ops[:last], Dests: []Operand{{Remote: true, Path: args[last][1:]}}}, nil
	}
	n := 0 // trailing remote operands
	for n < len(ops) && ops[last-n].Remote {
		n++
	}
	switch {
	case n == 0 && strings.HasPrefix(args[last], ":") && !anyRemote(ops):
		return CopyPlan{}, errors.New(":PATH is the destination on every host of --hosts FILE; without --hosts write HOST:PATH")
	case n == 0 || n == len(ops) || anyRemote(ops[:len(ops)-n]):
	case n == 1 && (r.Many == nil || !r.Many(ops[last].Host)):
	default:
		return CopyPlan{Kind: UploadMany, Sources: ops[:len(ops)-n], Dests: ops[len(ops)-n:]}, nil
	}
	srcs, dst := ops[:last], ops[last]
	remoteSrcs := 0
	for _, s := range srcs {
		if s.Remote {
			remoteSrcs++
		}
	}
	switch {
	case dst.Remote && remoteSrcs == 0:
		return CopyPlan{Kind: Upload, Sources: srcs, Dest: dst}, nil
	case !dst.Remote && remoteSrcs == len(srcs):
		return CopyPlan{Kind: Download, Sources: srcs, Dest: dst}, nil
	case !dst.Remote && remoteSrcs == 0:
		return CopyPlan{}, errors.New("no remote operand (HOST:PATH); use cp for a local copy")
	}
	return CopyPlan{}, errors.New("copying between two remote hosts, or from local and remote sources at once, is not supported")
}

func anyRemote(ops []Operand) bool {
	for _, op := range ops {
		if op.Remote {
			return true
		}
	}
	return false
}

// PlanUpload decides where each local source goes on a host, as scp
// does: into dst when it is a directory there (isDir), else as dst
// itself, which needs a single source and a usable file name. It returns
// the remote directory and the items for Put; an error names dst as
// host:path.
func PlanUpload(srcs []Operand, dst Operand, host string, isDir bool) (string, []PutItem, error) {
	shown := host + ":" + dst.Path
	var items []PutItem
	if isDir {
		for _, s := range srcs {
			name, err := SourceName(s.Path)
			if err != nil {
				return "", nil, err
			}
			items = append(items, PutItem{Local: s.Path, Name: name})
		}
		return dst.Path, items, nil
	}
	switch {
	case len(srcs) > 1:
		return "", nil, fmt.Errorf("%s: not a directory (several sources need one)", shown)
	case dst.Path == "" || strings.HasSuffix(dst.Path, "/"):
		return "", nil, fmt.Errorf("%s: no such directory", shown)
	}
	dir, name := dst.Path[:strings.LastIndexByte(dst.Path, '/')+1], dst.Path[strings.LastIndexByte(dst.Path, '/')+1:]
	if err := transfer.CheckName(name); err != nil {
		return "", nil, fmt.Errorf("%s: not a usable file name", shown)
	}
	return dir, []PutItem{{Local: srcs[0].Path, Name: name}}, nil
}

// SourceName is the name a local source takes in a destination
// directory: the last element of its absolute path, which must be a
// usable file name (not "/", "..").
func SourceName(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	base := filepath.Base(abs)
	if transfer.CheckName(base) != nil {
		return "", fmt.Errorf("%s: cannot be copied under its own name %q", p, base)
	}
	return base, nil
}
