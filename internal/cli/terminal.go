package cli

import (
	"bufio"
	"fmt"
	"strings"

	"golang.org/x/term"
)

// isTerminal reports whether env.Stdin is a terminal: prompts, progress and
// colours are allowed only then (docs/CLI.md §1).
func isTerminal(env Env) bool {
	f, ok := stdinFile(env)
	return ok && term.IsTerminal(int(f.Fd()))
}

// askOnTerminal prints question on stderr and reads a yes/no answer from
// the terminal on stdin. Anything but "yes" or "y" is no.
func askOnTerminal(env Env, question string) (bool, error) {
	if !isTerminal(env) {
		return false, fmt.Errorf("cannot ask %q: stdin is not a terminal", strings.TrimSpace(question))
	}
	fmt.Fprint(env.Stderr, question)
	line, err := bufio.NewReader(env.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return false, err
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "yes", "y":
		return true, nil
	}
	return false, nil
}
