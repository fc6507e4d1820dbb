package registry

import (
	"fmt"
	"slices"
	"strings"
)

// StdioPolicy is the operator's stdio allow-list (--stdio-commands and
// --stdio-args). Each entry is an executable, optionally followed by an
// argument vector: `node` or `node=/opt/mcp/crm.js --port 0` (arguments
// separated by spaces, no quoting). With free arguments, an entry allows
// its executable with any arguments; with fixed arguments, a connection's
// `args` must equal one of the vectors listed for its command (a bare
// entry stands for no arguments), so that tenants choose a server but
// cannot pass code to an interpreter.
type StdioPolicy struct {
	commands  map[string][][]string
	fixedArgs bool
}

// NewStdioPolicy parses the allow-list entries. An empty list disables
// stdio.
func NewStdioPolicy(entries []string, fixedArgs bool) (*StdioPolicy, error) {
	p := &StdioPolicy{commands: map[string][][]string{}, fixedArgs: fixedArgs}
	for _, e := range entries {
		command, args, hasArgs := strings.Cut(strings.TrimSpace(e), "=")
		command = strings.TrimSpace(command)
		if command == "" {
			return nil, fmt.Errorf("stdio allow-list entry %q names no command", e)
		}
		vector := []string{}
		if hasArgs {
			vector = strings.Fields(args)
		}
		p.commands[command] = append(p.commands[command], vector)
	}
	return p, nil
}

// Enabled reports whether any command is allowed.
func (p *StdioPolicy) Enabled() bool { return p != nil && len(p.commands) > 0 }

// Check says why command with args may not run, or nil when it may. The
// message does not repeat the arguments: they may hold a secret.
func (p *StdioPolicy) Check(command string, args []string) error {
	if !p.Enabled() {
		return fmt.Errorf("the stdio transport is disabled on this server (the operator allows no commands)")
	}
	vectors, ok := p.commands[command]
	if !ok {
		return fmt.Errorf("command %q is not on this server's stdio allow-list", command)
	}
	if !p.fixedArgs {
		return nil
	}
	for _, v := range vectors {
		if slices.Equal(v, args) || (len(v) == 0 && len(args) == 0) {
			return nil
		}
	}
	return fmt.Errorf("the arguments for %q are fixed by the operator (--stdio-args fixed) and these match none of the allowed argument lists", command)
}

// stdioPolicy builds the service's policy; cmd has already parsed the
// same entries, so an error here cannot happen in a running tether and
// disables stdio rather than failing.
func stdioPolicy(opts Options) *StdioPolicy {
	p, err := NewStdioPolicy(opts.StdioCommands, opts.StdioFixedArgs)
	if err != nil {
		return &StdioPolicy{}
	}
	return p
}
