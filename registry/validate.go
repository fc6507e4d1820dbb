package registry

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// toolPrefixPattern is the form of a tool prefix: a canonical slug.
var toolPrefixPattern = regexp.MustCompile(`^[a-z0-9]+(?:_[a-z0-9]+)*$`)

// validate checks the whole connection as it would be stored.
func (s *Service) validate(c *Connection) error {
	if !c.Transport.Valid() {
		return errorf(ErrValidation, "transport %q is not one of http, sse, streamable_http, websocket, stdio", c.Transport)
	}
	if !c.ToolPolicy.Valid() {
		return errorf(ErrValidation, "tool_policy %q is not one of auto, approve", c.ToolPolicy)
	}
	if c.ToolPrefix != nil && (len(*c.ToolPrefix) > MaxSlugLen || !toolPrefixPattern.MatchString(*c.ToolPrefix)) {
		return errorf(ErrValidation,
			"tool_prefix %q must be lowercase letters and digits separated by single underscores, at most %d characters (e.g. crm)",
			*c.ToolPrefix, MaxSlugLen)
	}
	if c.TimeoutMS < MinTimeoutMS || c.TimeoutMS > MaxTimeoutMS {
		return errorf(ErrValidation, "timeout must be between %d and %d milliseconds", MinTimeoutMS, MaxTimeoutMS)
	}
	if err := validateSecretNames(c.Secrets); err != nil {
		return err
	}
	if err := validateHeaders(c.Headers, c.Secrets); err != nil {
		return err
	}
	if c.Transport == TransportStdio {
		if c.Endpoint != "" {
			return errorf(ErrValidation, "endpoint does not apply to the stdio transport; give command and args")
		}
		return s.validateCommand(c.Command, c.Args)
	}
	if c.Command != "" || len(c.Args) > 0 {
		return errorf(ErrValidation, "command and args apply only to the stdio transport")
	}
	return s.validateEndpoint(c.Transport, c.Endpoint)
}

func (s *Service) validateCommand(command string, args []string) error {
	if command == "" {
		return errorf(ErrValidation, "the stdio transport needs a command")
	}
	if err := s.stdio.Check(command, args); err != nil {
		return errorf(ErrValidation, "%s", err.Error())
	}
	return nil
}

// endpointSchemes are the URL schemes each kind of transport accepts.
var (
	httpSchemes      = []string{"https", "http"}
	websocketSchemes = []string{"wss", "ws"}
)

func (s *Service) validateEndpoint(t Transport, endpoint string) error {
	if endpoint == "" {
		return errorf(ErrValidation, "endpoint is required for the %s transport", t)
	}
	schemes := httpSchemes
	if t == TransportWebSocket {
		schemes = websocketSchemes
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || u.Opaque != "" {
		// The URL is not echoed: its query may hold a credential.
		return errorf(ErrInvalidEndpoint, "endpoint is not a valid absolute URL (scheme://host[:port]/path)")
	}
	if !slices.Contains(schemes, strings.ToLower(u.Scheme)) {
		return errorf(ErrInvalidEndpoint, "endpoint scheme %q is not allowed for the %s transport; use %s",
			u.Scheme, t, strings.Join(schemes, " or "))
	}
	if s.urls != nil {
		if _, err := s.urls.CheckURL(endpoint, schemes); err != nil {
			return errorf(ErrInvalidEndpoint, "endpoint refused: %v", err)
		}
	}
	return nil
}

// origin is a URL's scheme, host and port, normalised, for telling whether
// an endpoint moved to another server ("" for an unparseable URL).
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	scheme, port := strings.ToLower(u.Scheme), u.Port()
	if port == "" {
		switch scheme {
		case "http", "ws":
			port = "80"
		case "https", "wss":
			port = "443"
		}
	}
	return scheme + "://" + strings.ToLower(u.Hostname()) + ":" + port
}

func lookupHeader(h Sensitive, name string) (string, bool) {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}
