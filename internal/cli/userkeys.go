package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/term"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/config"
)

// Keys as ssh users have them (docs/CLI.md §11.1): the identity files
// named (-i), else rexec's own identity and ssh's default files, then
// ssh-agent's keys. The first unencrypted ed25519 file is the TLS
// certificate's key (the fast path, with session tickets); every other key
// is offered in the hello and proven only if the server asks for it
// (PROTOCOL.md §1.4.1), so a passphrase is asked for only then.

// maxOffered bounds the keys one connection offers, below the protocol's
// limit, as ssh bounds its tries: a handful covers the files and agent
// keys of any real user.
const maxOffered = 8

// maxAskpassOutput bounds what an SSH_ASKPASS program may print.
const maxAskpassOutput = 4 << 10

// passphraseTries is how often a passphrase is asked on a terminal, as ssh
// asks.
const passphraseTries = 3

// sshDefaultKeys are ssh's default identity files under ~/.ssh that rexec
// can use, in ssh's order.
var sshDefaultKeys = []string{"id_ed25519", "id_ecdsa", "id_rsa"}

// keyPlan is the keys a connection presents and offers.
type keyPlan struct {
	identity *auth.Identity
	offer    []client.OfferedKey
	// warnings are what ssh would print about skipped identities.
	warnings []string
}

// keyOpts say where keys come from.
type keyOpts struct {
	// paths are the identity files named (-i); empty means the defaults.
	paths []string
	// identitiesOnly uses the agent only for the keys of paths.
	identitiesOnly bool
	// batch never asks for a passphrase.
	batch bool
	env   Env
}

// defaultKeyPaths are rexec's identity and ssh's default files.
func defaultKeyPaths(h config.Home) []string {
	paths := []string{h.Path(config.IdentityFile)}
	if home, err := os.UserHomeDir(); err == nil {
		for _, n := range sshDefaultKeys {
			paths = append(paths, filepath.Join(home, ".ssh", n))
		}
	}
	return paths
}

// planKeys reads the identity files and the agent's key list. A missing
// default file is skipped quietly, a missing named one with a warning, as
// ssh does; a file with wrong permissions or of another type is skipped
// with a warning.
func planKeys(h config.Home, o keyOpts) keyPlan {
	var p keyPlan
	paths, named := o.paths, len(o.paths) > 0
	if !named {
		paths = defaultKeyPaths(h)
	}
	agentKeys := loadAgent(&p)
	seen := map[string]bool{}
	add := func(k client.OfferedKey) {
		if !seen[string(k.Blob)] && len(p.offer) < maxOffered {
			seen[string(k.Blob)] = true
			p.offer = append(p.offer, k)
		}
	}
	ask := &passphraseAsker{env: o.env, batch: o.batch}
	for _, path := range paths {
		if strings.HasSuffix(path, ".pub") {
			pub, err := auth.ReadPublicKeyFile(path)
			if err != nil {
				p.warnings = append(p.warnings, fmt.Sprintf("identity file %s not accessible: %v", path, err))
				continue
			}
			if s := findAgentKey(agentKeys, pub); s != nil {
				add(agentOffer(s, path))
			} else {
				p.warnings = append(p.warnings, fmt.Sprintf("no agent key matches %s", path))
			}
			continue
		}
		kf, err := auth.ReadKeyFile(path)
		if err != nil {
			if named || !errors.Is(err, fs.ErrNotExist) {
				p.warnings = append(p.warnings, fmt.Sprintf("identity file %s not usable: %v", path, err))
			}
			continue
		}
		if s := findAgentKey(agentKeys, kf.Public); s != nil {
			add(agentOffer(s, path))
			continue
		}
		if id, ok := kf.Ed25519(); ok && p.identity == nil && len(p.offer) == 0 {
			p.identity = id
			seen[string(kf.Public.Marshal())] = true
			continue
		}
		add(fileOffer(kf, ask))
	}
	if !o.identitiesOnly {
		for _, s := range agentKeys {
			add(agentOffer(s, "agent"))
		}
	}
	return p
}

// loadAgent lists ssh-agent's keys when SSH_AUTH_SOCK names one. The
// connection stays open for the proofs and ends with the process.
func loadAgent(p *keyPlan) []ssh.Signer {
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil
	}
	keys, _, err := auth.AgentKeys(sock)
	if err != nil {
		p.warnings = append(p.warnings, fmt.Sprintf("ssh-agent not used: %v", err))
		return nil
	}
	return keys
}

// findAgentKey is the agent's signer for pub, if it holds that key.
func findAgentKey(keys []ssh.Signer, pub ssh.PublicKey) ssh.Signer {
	for _, s := range keys {
		if bytes.Equal(s.PublicKey().Marshal(), pub.Marshal()) {
			return s
		}
	}
	return nil
}

// agentOffer offers an agent key: the agent signs the proof; the private
// key never leaves it.
func agentOffer(s ssh.Signer, from string) client.OfferedKey {
	name := "agent key " + auth.SSHFingerprint(s.PublicKey())
	if from != "agent" {
		name += " (" + from + ")"
	}
	return client.OfferedKey{Blob: s.PublicKey().Marshal(), Name: name,
		Prove: func(data []byte) ([]byte, error) { return auth.SignProof(s, data) }}
}

// fileOffer offers a key file; an encrypted one is decrypted when the
// server asks for its proof (once, for every connection of the process).
func fileOffer(kf *auth.KeyFile, ask *passphraseAsker) client.OfferedKey {
	var mu sync.Mutex
	signer := kf.Signer
	return client.OfferedKey{Blob: kf.Public.Marshal(), Name: kf.Path,
		Prove: func(data []byte) ([]byte, error) {
			mu.Lock()
			defer mu.Unlock()
			if signer == nil {
				s, err := ask.decrypt(kf)
				if err != nil {
					return nil, err
				}
				signer = s
			}
			return auth.SignProof(signer, data)
		}}
}

// passphraseAsker asks for key passphrases as ssh does: on the terminal
// (/dev/tty, since stdin carries data), or through SSH_ASKPASS as
// SSH_ASKPASS_REQUIRE says; never in batch mode.
type passphraseAsker struct {
	env   Env
	batch bool
	mu    sync.Mutex
}

// errNoPassphrase is a key that needs a passphrase when none can be asked.
var errNoPassphrase = errors.New("needs a passphrase")

// decrypt asks for kf's passphrase and decrypts it.
func (a *passphraseAsker) decrypt(kf *auth.KeyFile) (ssh.Signer, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	prompt := fmt.Sprintf("Enter passphrase for key '%s': ", kf.Path)
	if a.batch {
		return nil, fmt.Errorf("%w, and BatchMode forbids asking (add the key to ssh-agent with ssh-add)", errNoPassphrase)
	}
	askpass, require := os.Getenv("SSH_ASKPASS"), os.Getenv("SSH_ASKPASS_REQUIRE")
	tty, ttyErr := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if ttyErr == nil {
		defer tty.Close()
	}
	useAskpass := askpass != "" && require != "never" &&
		(require == "force" || require == "prefer" || ttyErr != nil && os.Getenv("DISPLAY") != "")
	switch {
	case useAskpass:
		pass, err := runAskpass(askpass, prompt)
		if err != nil {
			return nil, err
		}
		return kf.Decrypt(pass)
	case ttyErr == nil && term.IsTerminal(int(tty.Fd())):
		var err error
		for range passphraseTries {
			fmt.Fprint(tty, prompt)
			pass, rerr := term.ReadPassword(int(tty.Fd()))
			fmt.Fprintln(tty)
			if rerr != nil {
				return nil, fmt.Errorf("reading the passphrase: %w", rerr)
			}
			var s ssh.Signer
			if s, err = kf.Decrypt(pass); err == nil {
				return s, nil
			}
			if !errors.Is(err, auth.ErrBadPassphrase) {
				return nil, err
			}
			fmt.Fprintln(tty, "Bad passphrase, try again.")
		}
		return nil, err
	}
	return nil, fmt.Errorf("%w, and there is no terminal to ask on (add the key to ssh-agent with ssh-add, or set SSH_ASKPASS)", errNoPassphrase)
}

// runAskpass runs an SSH_ASKPASS program with the prompt and returns
// what it printed, without the final newline.
func runAskpass(program, prompt string) ([]byte, error) {
	cmd := exec.Command(program, prompt)
	cmd.Stdin = nil
	var out bytes.Buffer
	cmd.Stdout = &limitedWriter{w: &out, n: maxAskpassOutput}
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("SSH_ASKPASS %s: %w", program, err)
	}
	return bytes.TrimRight(out.Bytes(), "\r\n"), nil
}

// limitedWriter keeps at most n bytes and drops the rest.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if len(p) > l.n {
		if _, err := l.w.Write(p[:l.n]); err != nil {
			return 0, err
		}
		l.n = 0
		return len(p), nil
	}
	l.n -= len(p)
	return l.w.Write(p)
}
