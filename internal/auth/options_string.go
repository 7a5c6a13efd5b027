package auth

import "strings"

// String renders the options in force in authorized_keys syntax, in one
// canonical order: restrict and pty under it, or no-pty; file-transfer
// when a line limiting commands (restrict, command=, allow=) re-enables
// it, or no-file-transfer on a line that does not imply it; then command=, from=,
// each environment= and one allow= with every glob. Options rexec ignores
// are not in KeyOptions and so not rendered; the zero value is "". The
// audit log records this string, so two lines that grant the same render
// the same.
//
// Whatever the parser produced parses back to equal KeyOptions (a value
// the parser cannot produce, such as one ending in a backslash, may not).
func (o KeyOptions) String() string {
	var opts []string
	if o.Restrict {
		opts = append(opts, "restrict")
		if !o.NoPTY {
			opts = append(opts, "pty")
		}
	} else if o.NoPTY {
		opts = append(opts, "no-pty")
	}
	switch {
	case o.limitsCommands() && !o.NoFileTransfer:
		opts = append(opts, "file-transfer")
	case !o.limitsCommands() && o.NoFileTransfer:
		opts = append(opts, "no-file-transfer")
	}
	if o.HasCommand {
		opts = append(opts, quoteOption("command", o.Command))
	}
	if o.From != nil {
		opts = append(opts, quoteOption("from", strings.Join(o.From, ",")))
	}
	for _, kv := range o.Environment {
		opts = append(opts, quoteOption("environment", kv))
	}
	if len(o.Allow) > 0 {
		opts = append(opts, quoteOption("allow", strings.Join(o.Allow, ",")))
	}
	return strings.Join(opts, ",")
}

// quoteOption renders name="value" as dequote reads it: a quote inside
// the value is written `\"`; every other byte stands for itself.
func quoteOption(name, value string) string {
	return name + `="` + strings.ReplaceAll(value, `"`, `\"`) + `"`
}
