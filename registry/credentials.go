package registry

import (
	"strconv"
	"strings"
)

// Stored credentials (headers, secrets, an OAuth grant) are bound to the
// place they are sent to: the endpoint's origin for the network
// transports, the command line for stdio, whose child gets the secrets in
// its environment. Whoever holds a tenant's API key may edit its rows but
// never read their secrets; if credentials followed a row to a new
// destination, pointing it at a server of theirs (or at an interpreter
// with code of theirs) would read them. So every update compares the
// destination before and after, whatever fields changed on the way: a
// row cannot launder its credentials through a stdio hop, because the hop
// is itself a change of destination.

// destination names where c sends its credentials. Two rows with the same
// destination may share credentials; any other change needs them sent
// again.
func destination(c *Connection) string {
	if c.Transport == TransportStdio {
		// The arguments are part of it: with free arguments they are code.
		var b strings.Builder
		b.WriteString("stdio:")
		b.WriteString(strconv.Quote(c.Command))
		for _, a := range c.Args {
			b.WriteByte(' ')
			b.WriteString(strconv.Quote(a))
		}
		return b.String()
	}
	return origin(c.Endpoint)
}

// rebind applies the binding rule to c, already patched with p's
// transport, endpoint, command and args, whose destination was before. It
// reports whether the destination changed; when it did, only the secrets
// p sends are kept, headers must be sent again, and an OAuth connection
// is refused (its grant is bound to its resource).
func (s *Service) rebind(c *Connection, before string, p Patch) (moved bool, err error) {
	if destination(c) == before {
		return false, nil
	}
	// A refused endpoint is reported as such, before anything about
	// credentials.
	if c.Transport != TransportStdio {
		if err := s.validateEndpoint(c.Transport, c.Endpoint); err != nil {
			return true, err
		}
	}
	if c.AuthType == AuthOAuth {
		return true, errorf(ErrValidation, "an OAuth connection cannot move to another origin (scheme, host or port) or transport kind; create a new connection")
	}
	if len(c.Headers) > 0 && p.Headers == nil {
		return true, errorf(ErrValidation, "this change sends the connection's credentials somewhere else (another origin, or another stdio command line): send headers (and their secrets) again; stored credentials never follow a connection to a new destination")
	}
	kept := Sensitive{}
	for k, v := range p.Secrets {
		if v != nil {
			kept[k] = *v
		}
	}
	c.Secrets = kept
	return true, nil
}
