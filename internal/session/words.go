package session

import "strings"

// plainByte reports bytes that no POSIX shell treats specially inside a
// word: no quoting, expansion, globbing, redirection, separator or
// comment character, and no `~` or `=` games (an `=` in the first word is
// an assignment, which directCommand refuses separately).
func plainByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("_-./:,+@%=", c) >= 0
}

// PlainWords splits command at spaces and tabs when every other byte is
// plain (plainByte), and reports false for anything else and for an empty
// command. Such a string means the same to every POSIX shell as the argv
// it splits into, which lets it run without a shell: here, when the shell
// would only exec it, and in the server, where a key limited to an
// allow-list may send `rexec run HOST -- uptime` as a string.
func PlainWords(command string) ([]string, bool) {
	for i := 0; i < len(command); i++ {
		if c := command[i]; c != ' ' && c != '\t' && !plainByte(c) {
			return nil, false
		}
	}
	words := strings.FieldsFunc(command, func(r rune) bool { return r == ' ' || r == '\t' })
	return words, len(words) > 0
}
