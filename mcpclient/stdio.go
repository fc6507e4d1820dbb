package mcpclient

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tether-dev/tether/registry"
)

// stdio servers run in the sandbox with a scrubbed environment: tether's
// own (its database path, its keys, cloud credentials) is none of their
// business.
const (
	stdioPath = "/usr/local/bin:/usr/bin:/bin"
	stdioLang = "C.UTF-8"
	// stdioGrace is how long a server gets to exit after its stdin closes
	// before its process tree is killed.
	stdioGrace = 500 * time.Millisecond
	// stdioExitWait is how long a failed handshake waits for the process
	// exit, whose status and stderr explain the failure better than "EOF".
	stdioExitWait = 300 * time.Millisecond
	stderrTail    = 2048
	// stderrShown caps the stderr excerpt in an error message.
	stderrShown = 300
)

// reservedEnv are set by tether; a secret cannot replace them.
var reservedEnv = map[string]bool{"PATH": true, "HOME": true, "LANG": true}

// deniedEnv would let whoever registers the connection make the
// allow-listed command load or run code of their choosing.
var (
	deniedEnv = map[string]bool{"BASH_ENV": true, "ENV": true, "IFS": true, "NODE_OPTIONS": true, "NODE_PATH": true,
		"PYTHONSTARTUP": true, "PYTHONPATH": true, "PYTHONHOME": true, "PYTHONWARNINGS": true, "PYTHONINSPECT": true,
		"PERL5OPT": true, "PERL5LIB": true, "PERLLIB": true, "RUBYOPT": true, "RUBYLIB": true, "BROWSER": true,
		"JAVA_TOOL_OPTIONS": true, "_JAVA_OPTIONS": true, "JDK_JAVA_OPTIONS": true, "CLASSPATH": true,
		"GCONV_PATH": true, "SHELLOPTS": true, "PS4": true, "PROMPT_COMMAND": true, "GIT_SSH_COMMAND": true}
	deniedEnvPrefixes = []string{"LD_", "DYLD_", "BASH_FUNC_", "GIT_CONFIG"}
)

// checkStdio applies the stdio policy before anything starts.
func (c *Client) checkStdio(conn *registry.Connection) error {
	if !c.stdio.Enabled() {
		return &Error{Kind: registry.ErrUpstreamRefused, msg: "refused by policy: stdio connections are disabled on this server (see --stdio-commands)"}
	}
	if err := c.stdio.Check(conn.Command, conn.Args); err != nil {
		return &Error{Kind: registry.ErrUpstreamRefused, msg: "refused by policy: " + err.Error() + " (see --stdio-commands)"}
	}
	for name := range conn.Secrets {
		upper := strings.ToUpper(name)
		if reservedEnv[upper] {
			return &Error{Kind: registry.ErrUpstreamRefused, msg: fmt.Sprintf("refused by policy: secret %q cannot be passed to a stdio command: tether sets %s itself", name, upper)}
		}
		denied := deniedEnv[upper]
		for _, p := range deniedEnvPrefixes {
			denied = denied || strings.HasPrefix(upper, p)
		}
		if denied {
			return &Error{Kind: registry.ErrUpstreamRefused, msg: fmt.Sprintf("refused by policy: secret %q cannot be passed to a stdio command: it would change which code the command runs", name)}
		}
	}
	if c.sandbox == nil {
		why := "it is not configured (see --stdio-user)"
		if c.noSandbox != nil {
			why = c.noSandbox.Error()
		}
		return &Error{Kind: registry.ErrUpstreamRefused, msg: "refused by policy: stdio servers run only in the sandbox, which is unavailable on this server: " + why}
	}
	return nil
}

// stdioProc is a started stdio server.
type stdioProc struct {
	transport mcp.Transport
	exited    chan struct{}
	cleanup   func()
}

// startStdio starts the allow-listed command in the sandbox: argv as
// given, never through a shell; the environment scrubbed to PATH, HOME
// (the sandbox's fresh, private directory, also the working directory)
// and LANG, plus the connection's secrets under their own names. A bare
// command name is looked up in tether's own PATH, where the operator who
// allow-listed it expects it to be found. Cleanup kills the whole process
// tree, detached grandchildren included.
//
// The go-sdk's CommandTransport is not used: its line cap is fixed at 16
// MiB, and it owns the pipes, so no cap of ours could be put in front.
func (c *Client) startStdio(ctx context.Context, conn *registry.Connection, tr *tracker, red *redactor) (*stdioProc, error) {
	release, err := c.stdioSlots.acquire(ctx, conn.TenantID)
	if err != nil {
		return nil, err
	}
	env := []string{"PATH=" + stdioPath, "LANG=" + stdioLang}
	for _, name := range conn.Secrets.Names() {
		env = append(env, name+"="+conn.Secrets[name])
	}
	proc, err := c.sandbox.Command(conn.Command, conn.Args, env)
	if err != nil {
		release()
		return nil, newError(registry.ErrUpstreamConnection, err, "could not start %s: %s", conn.Command, startProblem(err))
	}

	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		release()
		return nil, fmt.Errorf("create stdin pipe: %w", err)
	}
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		stdinR.Close()
		stdinW.Close()
		release()
		return nil, fmt.Errorf("create stdout pipe: %w", err)
	}
	// Room for the longest secret beyond the tail shown, so that a secret
	// cut in half where the buffer starts can be dropped whole.
	stderr := &tailBuffer{max: stderrTail + red.longest()}
	// *os.File pipes rather than StdinPipe/StdoutPipe: Wait then closes
	// nothing of ours, so the exit can be watched while the SDK is still
	// reading what the server wrote last.
	cmd := proc.Cmd
	cmd.Stdin = stdinR
	cmd.Stdout = stdoutW
	cmd.Stderr = stderr
	// A grandchild holding stderr open must not hold up Wait.
	cmd.WaitDelay = time.Second
	err = proc.Start()
	// The child has its copies now (or never will).
	stdinR.Close()
	stdoutW.Close()
	if err != nil {
		stdinW.Close()
		stdoutR.Close()
		release()
		return nil, newError(registry.ErrUpstreamConnection, err, "could not start %s: %s", conn.Command, startProblem(err))
	}

	exited := make(chan struct{})
	go func() {
		// Wait also kills what the server left behind, and only then
		// reaps it; the slot is free once nothing of it runs.
		err := proc.Wait()
		release()
		tr.processExited(exitText(cmd, err, stderr, red))
		close(exited)
	}()
	p := &stdioProc{
		transport: &mcp.IOTransport{
			Reader:        &framedReader{rc: stdoutR, f: newFramer(c.maxMessage, false, tr)},
			Writer:        stdinW,
			MaxLineLength: int(c.maxMessage + sdkSlack),
		},
		exited: exited,
	}
	p.cleanup = func() {
		// Closing stdin is the MCP way to ask a stdio server to exit.
		stdinW.Close()
		stdoutR.Close()
		select {
		case <-exited:
			return
		case <-time.After(stdioGrace):
		}
		proc.Kill()
		<-exited
	}
	return p, nil
}

// stdioSlots bounds the stdio processes one tenant may run at once: each
// is a whole interpreter, and a tenant could otherwise fill the machine.
// A start past the bound waits for a slot as long as its caller does.
type stdioSlots struct {
	max     int
	mu      sync.Mutex
	tenants map[string]chan struct{} // a token per running process
}

func (s *stdioSlots) acquire(ctx context.Context, tenant string) (release func(), err error) {
	if s.max <= 0 {
		return func() {}, nil
	}
	s.mu.Lock()
	if s.tenants == nil {
		s.tenants = map[string]chan struct{}{}
	}
	tokens, ok := s.tenants[tenant]
	if !ok {
		tokens = make(chan struct{}, s.max)
		s.tenants[tenant] = tokens
	}
	s.mu.Unlock()
	select {
	case tokens <- struct{}{}:
	case <-ctx.Done():
		return nil, &Error{Kind: registry.ErrUpstreamRefused, msg: fmt.Sprintf(
			"refused by policy: this tenant already runs %d stdio servers, the most this server allows at once, and none ended in time; close or delete some and retry", s.max)}
	}
	var once sync.Once
	return func() { once.Do(func() { <-tokens }) }, nil
}

// startProblem describes a failed start without exec's quoting of the
// whole command line.
func startProblem(err error) string {
	switch {
	case errors.Is(err, exec.ErrNotFound):
		return "executable not found"
	case errors.Is(err, os.ErrNotExist):
		return "no such file"
	case errors.Is(err, os.ErrPermission):
		return "permission denied"
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// exitText says how the server ended, with the end of its stderr, which
// usually says why ("Error: API_KEY is not set").
//
// The tail is redacted before it is cut, so that the cut can never leave
// the end of a secret that the redactor would no longer recognise.
func exitText(cmd *exec.Cmd, err error, stderr *tailBuffer, red *redactor) string {
	status := "exit status 0"
	if cmd.ProcessState != nil {
		status = cmd.ProcessState.String()
	} else if err != nil {
		status = err.Error()
	}
	msg := "the stdio server exited (" + status + ")"
	text, dropped := stderr.contents()
	text = red.redact(text)
	if dropped {
		// The buffer's first bytes may be the end of a secret whose start
		// was dropped: skip as many bytes as the longest secret has.
		text = text[min(len(text), red.longest()):]
	}
	tail := strings.TrimSpace(text)
	if i := strings.LastIndexAny(tail, "\n"); i >= 0 && len(tail)-i > 20 {
		// The last line is usually the error; earlier ones are noise.
		tail = tail[i+1:]
	}
	if len(tail) > stderrShown {
		tail = "..." + strings.ToValidUTF8(tail[len(tail)-stderrShown:], "")
	}
	if tail != "" {
		msg += ": " + tail
	}
	return msg
}

// longest is the length of the longest value r redacts.
func (r *redactor) longest() int {
	if r == nil || len(r.values) == 0 {
		return 0
	}
	return len(r.values[0]) // sorted longest first
}
