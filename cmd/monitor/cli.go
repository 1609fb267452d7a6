package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/normwatch/normwatch/pkg/config"
)

// command is a subcommand's flags and help. Its errors are loud: one line
// naming the flag (or configuration key), the bad value and what it takes,
// then the usage (the synopsis, the named flags' own lines, and where the
// rest is), on stderr; --help prints the whole help once, on stdout.
type command struct {
	name     string // "monitor run"
	synopsis string // "Usage: monitor run [flags]"
	// help is the text of --help between the synopsis and the flags;
	// footer comes after the flags.
	help, footer string
	usageCode    int // exit code of a usage error
	fs           *pflag.FlagSet
	stdout       io.Writer
	stderr       io.Writer
}

func newCommand(name, synopsis, help string, usageCode int, stdout, stderr io.Writer) *command {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SortFlags = false
	// pflag prints the usage itself on --help; the command prints it, once,
	// where it belongs, and pflag's own error messages are replaced.
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	return &command{name: name, synopsis: synopsis, help: help, usageCode: usageCode, fs: fs, stdout: stdout, stderr: stderr}
}

// parse parses args; done tells the caller to return code at once (after
// --help, or a usage error already printed).
func (c *command) parse(args []string) (code int, done bool) {
	err := c.fs.Parse(args)
	switch {
	case err == nil:
		return 0, false
	case errors.Is(err, pflag.ErrHelp):
		c.printHelp(c.stdout)
		return 0, true
	}
	return c.usageError(flagError(c.fs, err)), true
}

// printHelp writes the whole help: synopsis, text, every flag, footer.
func (c *command) printHelp(w io.Writer) {
	fmt.Fprintln(w, c.synopsis)
	if c.help != "" {
		fmt.Fprint(w, "\n", c.help)
	}
	fmt.Fprint(w, "\nFlags:\n", c.fs.FlagUsages())
	if c.footer != "" {
		fmt.Fprint(w, "\n", c.footer)
	}
}

// usageError prints err, one line per problem, then the synopsis, the
// lines of the flags the problems name, and where the rest is; it returns
// the usage exit code.
func (c *command) usageError(err error) int {
	var named []*pflag.Flag
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(c.stderr, "%s: %s\n", c.name, line)
		if f := c.fs.Lookup(subject(line)); f != nil && !slices.Contains(named, f) {
			named = append(named, f)
		}
	}
	fmt.Fprintln(c.stderr, c.synopsis)
	if len(named) > 0 {
		only := pflag.NewFlagSet(c.name, pflag.ContinueOnError)
		for _, f := range named {
			only.AddFlag(f)
		}
		fmt.Fprint(c.stderr, only.FlagUsages())
	}
	fmt.Fprintf(c.stderr, "Run '%s --help' for every flag.\n", c.name)
	return c.usageCode
}

// subject is the flag or key a problem line starts with: "--window.size: ..."
// or "kafka.brokers[1]: ..." name window.size and kafka.brokers.
func subject(line string) string {
	s, _, ok := strings.Cut(line, ": ")
	if !ok {
		s, _, _ = strings.Cut(line, " ")
	}
	s = strings.TrimPrefix(s, "--")
	if i := strings.IndexByte(s, '['); i >= 0 {
		s = s[:i]
	}
	return s
}

// flagError rewrites pflag's parse errors to name the flag first, with the
// bad value and what the flag takes.
func flagError(fs *pflag.FlagSet, err error) error {
	var inv *pflag.InvalidValueError
	var req *pflag.ValueRequiredError
	var nx *pflag.NotExistError
	switch {
	case errors.As(err, &inv):
		f := inv.GetFlag()
		return fmt.Errorf("--%s: %q is not %s", f.Name, inv.GetValue(), takes(f))
	case errors.As(err, &req):
		f := req.GetFlag()
		return fmt.Errorf("--%s: needs a value: %s", f.Name, takes(f))
	case errors.As(err, &nx):
		name := nx.GetSpecifiedName()
		if name == "" {
			return err
		}
		msg := fmt.Sprintf("--%s: unknown flag", name)
		if s := nearestFlag(fs, name); s != "" {
			msg += "; did you mean --" + s + "?"
		}
		return errors.New(msg)
	}
	return err
}

// takes says what values a flag accepts.
func takes(f *pflag.Flag) string {
	switch f.Value.Type() {
	case "duration":
		return "a duration (a number with a unit: 500ms, 30s, 5m, 1h30m)"
	case "int", "int64", "uint", "uint64":
		return "a whole number"
	case "bool":
		return "true or false"
	case "stringSlice":
		return "a comma-separated list"
	case "float64":
		return "a number"
	}
	return "a string"
}

// nearestFlag returns the flag whose name is closest to name, when close
// enough to be a typo (or when name is a part of it).
func nearestFlag(fs *pflag.FlagSet, name string) string {
	best, bestD := "", 3
	fs.VisitAll(func(f *pflag.Flag) {
		d := config.EditDistance(name, f.Name)
		if len(name) >= 4 && strings.Contains(f.Name, name) {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = f.Name, d
		}
	})
	return best
}
