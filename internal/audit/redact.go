package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
)

// DefaultRedact are the environment names whose values RedactEnv hashes
// unless the daemon is configured otherwise: the usual spellings of
// credentials passed in the environment (API_TOKEN, AWS_SECRET_ACCESS_KEY,
// PGPASSWORD, SSH_KEY, ...).
var DefaultRedact = []string{"*TOKEN*", "*SECRET*", "*PASSWORD*", "*KEY*"}

// redactedPrefix starts a value RedactEnv replaced.
const redactedPrefix = "sha256:"

// RedactEnv returns env as "K=V" strings sorted by name (the form
// Record.Env holds) with the value of each name matching one of patterns
// replaced by "sha256:" and the hex SHA-256 of the value. A pattern is a
// glob whose '*' matches any run of characters; every other character
// stands for itself, compared without regard to case.
//
// The hash lets an auditor confirm a value they already know (or tell two
// runs' values apart) without the log holding it in clear. It does not
// hide a value that can be guessed: a short or common secret is found by
// hashing candidates, so the log itself must stay private (0600).
func RedactEnv(env map[string]string, patterns []string) []string {
	if len(env) == 0 {
		return nil
	}
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	slices.Sort(names)
	out := make([]string, len(names))
	for i, k := range names {
		v := env[k]
		if redacted(k, patterns) {
			sum := sha256.Sum256([]byte(v))
			v = redactedPrefix + hex.EncodeToString(sum[:])
		}
		out[i] = k + "=" + v
	}
	return out
}

// redacted reports whether name matches one of patterns.
func redacted(name string, patterns []string) bool {
	name = strings.ToUpper(name)
	for _, p := range patterns {
		if starMatch(strings.ToUpper(p), name) {
			return true
		}
	}
	return false
}

// starMatch matches s against pat, where '*' matches any run of bytes and
// every other byte itself. It backtracks only to the last '*', so it runs
// in O(len(pat)*len(s)) at worst.
func starMatch(pat, s string) bool {
	px, sx := 0, 0
	star, next := -1, 0 // the last '*' seen, and where its run would end
	for sx < len(s) {
		switch {
		case px < len(pat) && pat[px] == '*':
			star, next = px, sx
			px++
		case px < len(pat) && pat[px] == s[sx]:
			px++
			sx++
		case star >= 0:
			next++
			px, sx = star+1, next
		default:
			return false
		}
	}
	for px < len(pat) && pat[px] == '*' {
		px++
	}
	return px == len(pat)
}
