package registry

import (
	"context"
	"errors"
	"maps"
	"time"
)

// The MCP 2026-07-28 revision lets a server answer a tools/call with
// something other than its result (SEP-2322, SEP-2663):
//
//   - input_required: it needs the client's user (elicitation), model
//     (sampling) or roots first; the client asks, then calls again with
//     inputResponses and the server's requestState;
//   - task (the tasks extension): the work goes on; the client polls
//     tasks/get, answers tasks/update, may tasks/cancel.
//
// tether passes both through: the agent's own capabilities are declared
// upstream for its call, and what the upstream hands out to come back with
// (its requestState, its taskId) is sealed (sealed.go) with the tenant,
// the connection, the tool and an expiry, so that it comes back to the
// same upstream, from the same tenant, and is refused otherwise.

// ResultType values of a 2026-07-28 result.
const (
	ResultComplete      = "complete"
	ResultInputRequired = "input_required"
	ResultTask          = "task"
)

// TasksExtension names the tasks extension in capabilities.
const TasksExtension = "io.modelcontextprotocol/tasks"

// CallOptions are the protocol fields of one agent call beyond its
// arguments.
type CallOptions struct {
	// KeyID is the caller's API key; a request state is bound to it.
	KeyID string
	// ClientCapabilities are the capabilities the caller declared for
	// this call (the JSON object of the 2026-07-28 _meta), declared
	// upstream as they are. nil declares none: a compliant server then
	// asks for nothing and creates no task.
	ClientCapabilities map[string]any
	// InputResponses answer the inputRequests of an input-required
	// answer; RequestState is that answer's (sealed) requestState.
	InputResponses map[string]any
	RequestState   string
}

// UpstreamCall is what travels with a call to the Prober (in its context,
// like the trace): the capabilities to declare, and the retry fields with
// the upstream's own request state.
type UpstreamCall struct {
	ClientCapabilities map[string]any
	InputResponses     map[string]any
	RequestState       string
	// InputSchema is the tool's input schema as its server lists it: the
	// x-mcp-header marks in it name the parameter headers of the call
	// (SEP-2243). The registry sets it for every call.
	InputSchema map[string]any
}

type upstreamCallKey struct{}

// WithUpstreamCall attaches u to a call's context.
func WithUpstreamCall(ctx context.Context, u *UpstreamCall) context.Context {
	return context.WithValue(ctx, upstreamCallKey{}, u)
}

// UpstreamCallOf returns the UpstreamCall of ctx, nil when there is none.
func UpstreamCallOf(ctx context.Context) *UpstreamCall {
	u, _ := ctx.Value(upstreamCallKey{}).(*UpstreamCall)
	return u
}

// DeclaresTasks reports whether capabilities declare the tasks extension.
func DeclaresTasks(caps map[string]any) bool {
	ext, _ := caps["extensions"].(map[string]any)
	_, ok := ext[TasksExtension]
	return ok
}

// TaskProber relays the tasks extension's methods to a server (mcpclient's
// Pool implements it).
type TaskProber interface {
	// TaskRequest sends method (tasks/get, tasks/update, tasks/cancel)
	// with params to the connection's server and returns its result.
	TaskRequest(ctx context.Context, c *Connection, method string, params map[string]any) (map[string]any, error)
}

// InvokeAgentTool is InvokeTool with the call's protocol fields: a retry
// of an input-required answer is checked against its sealed state (same
// tenant, key, connection and tool, not expired) and carries the
// upstream's own state; an input-required answer leaves with tether's
// sealed requestState, and a task with a sealed taskId.
func (s *Service) InvokeAgentTool(ctx context.Context, tenantID, persona, slug string, args map[string]any, opts CallOptions) (map[string]any, *Tool, error) {
	up := &UpstreamCall{ClientCapabilities: opts.ClientCapabilities, InputResponses: opts.InputResponses}
	var prior *sealed
	if opts.RequestState != "" {
		st, err := s.open(tenantID, purposeRequestState, opts.KeyID, opts.RequestState)
		if err != nil {
			return nil, nil, err
		}
		prior, up.RequestState = &st, st.State
	}
	via := viaOf(ctx, "mcp")
	a, err := s.resolve(ctx, tenantID, persona, slug)
	if err == nil && prior != nil && (prior.Conn != a.Connection.ID || prior.Tool != a.Tool.Name) {
		err = errorf(ErrInvalidState, "invalid request state: it was issued for another tool")
	}
	if err == nil && prior != nil && prior.Server != serverOf(a.Connection) {
		err = errorf(ErrInvalidState, "invalid request state: the connection now reaches another server; call the tool again")
	}
	if err != nil {
		if a.Connection != nil {
			s.recordCall(a.Connection, a.Tool.Name, slug, via, "refused", 0, err)
			s.observe.ObserveToolCall(via, "refused")
		}
		return nil, nil, err
	}
	result, err := s.callTool(WithUpstreamCall(ctx, up), a.Connection, a.Tool, args, via)
	if err != nil {
		return nil, a.Tool, err
	}
	result, err = s.sealResult(tenantID, opts.KeyID, a.Connection, a.Tool.Name, result)
	return result, a.Tool, err
}

// sealResult replaces the upstream's requestState or taskId in result
// with tether's sealed one (in a copy).
func (s *Service) sealResult(tenantID, keyID string, c *Connection, tool string, result map[string]any) (map[string]any, error) {
	switch result["resultType"] {
	case ResultInputRequired:
		state, _ := result["requestState"].(string)
		sealedState, err := s.seal(tenantID, purposeRequestState, keyID, sealed{
			Conn: c.ID, Tool: tool, Server: serverOf(c), Exp: s.now().Add(RequestStateTTL).Unix(), State: state,
		})
		if err != nil {
			return nil, sealFailed("request state", err)
		}
		result = maps.Clone(result)
		// Always one, even when the upstream kept no state: the retry must
		// come back to this connection and tool.
		result["requestState"] = sealedState
	case ResultTask:
		id, _ := result["taskId"].(string)
		if id == "" {
			return nil, errorf(ErrUpstreamInvalid, "the server answered with a task without a taskId")
		}
		// Bound to the API key, as a request state is: the tasks
		// extension binds a task to its requestor's authorization, and
		// to the upstream tether is one client for the whole tenant.
		handle, err := s.seal(tenantID, purposeTask, keyID, sealed{
			Conn: c.ID, Tool: tool, Server: serverOf(c), Exp: s.now().Add(taskTTL(result["ttlMs"])).Unix(), State: id,
		})
		if err != nil {
			return nil, sealFailed("task handle", err)
		}
		result = maps.Clone(result)
		result["taskId"] = handle
	}
	return result, nil
}

// sealFailed is the error of a result whose state could not be sealed:
// the upstream's, when its state is too large, else the Sealer's.
func sealFailed(what string, err error) error {
	if errors.Is(err, ErrUpstreamInvalid) {
		return err
	}
	return errors.Join(errorf(ErrUpstreamError, "cannot seal the %s", what), err)
}

// taskTTL is how long a task handle is honoured: TaskHandleTTL, or the
// task's own ttlMs when longer, up to MaxTaskHandleTTL.
func taskTTL(ttl any) time.Duration {
	d := TaskHandleTTL
	if ms, ok := ttl.(float64); ok && time.Duration(ms)*time.Millisecond > d {
		d = time.Duration(ms) * time.Millisecond
	}
	return min(d, MaxTaskHandleTTL)
}

// TaskMethods are the tasks extension's methods tether relays.
var TaskMethods = map[string]bool{"tasks/get": true, "tasks/update": true, "tasks/cancel": true}

// TaskRequest relays a tasks extension request of the tenant's API key
// keyID (params as the agent sent them, taskId being tether's sealed
// handle) to the server that created the task, and returns its result
// with the handle in place of the server's taskId. A handle that is
// forged, expired, another tenant's or key's, or whose connection now
// reaches another server is ErrInvalidState.
func (s *Service) TaskRequest(ctx context.Context, tenantID, keyID, method string, params map[string]any) (map[string]any, error) {
	if !TaskMethods[method] {
		return nil, errorf(ErrUnsupported, "%s is not a tasks method", method)
	}
	handle, _ := params["taskId"].(string)
	st, err := s.open(tenantID, purposeTask, keyID, handle)
	if err != nil {
		return nil, err
	}
	c, err := s.store.GetConnection(ctx, tenantID, st.Conn)
	if isNotFound(err) {
		return nil, errorf(ErrInvalidState, "invalid task handle: its connection no longer exists")
	}
	if err != nil {
		return nil, err
	}
	if st.Server != serverOf(c) {
		return nil, errorf(ErrInvalidState, "invalid task handle: its connection now reaches another server")
	}
	tp, ok := s.prober.(TaskProber)
	if !ok {
		return nil, errorf(ErrUnsupported, "tasks are not supported by this build")
	}
	if !c.Enabled {
		return nil, errorf(ErrNotActive, "MCP server %q is disabled", NameFromSlug(c.Slug))
	}
	cctx, cancel := context.WithTimeout(ctx, time.Duration(c.TimeoutMS)*time.Millisecond)
	defer cancel()
	dial, err := s.withAccessToken(cctx, c)
	if err != nil {
		return nil, err
	}
	up := maps.Clone(params)
	up["taskId"] = st.State
	res, err := tp.TaskRequest(cctx, dial, method, up)
	err = s.stepUp(ctx, c, err)
	if err != nil {
		return nil, err
	}
	if _, ok := res["taskId"]; ok {
		res = maps.Clone(res)
		res["taskId"] = handle
	}
	return res, nil
}
