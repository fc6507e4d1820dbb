package gateway

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tether-dev/tether/registry"
)

// Input-required round trips (SEP-2322) through /mcp. A 2026-07-28 agent
// declares its capabilities in each request's _meta; tether declares
// exactly those upstream for that call (registry.CallOptions), so a
// compliant server asks only an agent that can answer. An input-required
// answer reaches the agent with the upstream's inputRequests and a
// requestState sealed by the registry (bound to tenant, API key,
// connection, tool and an expiry); the agent's retry carries it back and
// reaches the same upstream with the upstream's own state. A state tether
// did not issue, that expired, or that another tenant or key brings is
// refused with -32602.
//
// An agent on an older revision has a session, and its questions would
// travel as server-to-client requests on it; relaying those is out of
// scope (behind a load balancer without affinity the answer lands on
// another replica). tether declares no capabilities upstream for it, and
// a server that asks anyway is reported as an isError result naming what
// it asked for.

// keyHeader carries the request's API key id from ServeHTTP to the tool
// handler (RequestExtra.Header); ServeHTTP overwrites an agent's own.
const keyHeader = "X-Tether-Api-Key-Id"

// callOptions reads the protocol fields of a tools/call: for a 2026-07-28
// request, the capabilities in its _meta and a retry's inputResponses and
// requestState. current reports the 2026-07-28 revision.
func callOptions(req *mcp.CallToolRequest) (opts registry.CallOptions, current bool, err error) {
	if req.Extra != nil && req.Extra.Header != nil {
		opts.KeyID = req.Extra.Header.Get(keyHeader)
	}
	p := req.Params
	version, _ := p.Meta[mcp.MetaKeyProtocolVersion].(string)
	if version < statelessVersion {
		return opts, false, nil
	}
	caps, _ := p.Meta[mcp.MetaKeyClientCapabilities].(map[string]any)
	if caps == nil {
		caps = map[string]any{}
	}
	opts.ClientCapabilities = caps
	opts.RequestState = p.RequestState
	if len(p.InputResponses) > 0 {
		b, err := json.Marshal(p.InputResponses)
		if err == nil {
			err = json.Unmarshal(b, &opts.InputResponses)
		}
		if err != nil {
			return opts, true, fmt.Errorf("invalid inputResponses: %w", err)
		}
	}
	return opts, true, nil
}

// inputRequired turns an upstream's input-required answer (its
// requestState already sealed) into the agent's result: the answer itself
// for a 2026-07-28 agent, an isError result naming the input for an older
// one.
func inputRequired(res map[string]any, current bool) *mcp.CallToolResult {
	var requests mcp.InputRequestMap
	if raw, ok := res["inputRequests"]; ok && raw != nil {
		b, err := json.Marshal(raw)
		if err == nil {
			err = json.Unmarshal(b, &requests)
		}
		if err != nil {
			return errorResult("invalid upstream response: inputRequests: " + err.Error())
		}
	}
	if !current {
		return errorResult(describeInput(requests))
	}
	if requests == nil {
		// Only a requestState: the agent may retry at once. Non-nil, so
		// that the SDK marks the result input_required.
		requests = mcp.InputRequestMap{}
	}
	state, _ := res["requestState"].(string)
	out := &mcp.CallToolResult{InputRequests: requests, RequestState: state}
	if meta, ok := res["_meta"].(map[string]any); ok {
		out.Meta = meta
	}
	return out
}

// describeInput names what the server asked for, for an agent that
// cannot be asked.
func describeInput(requests mcp.InputRequestMap) string {
	var asks []string
	for id, r := range requests {
		switch p := r.(type) {
		case *mcp.ElicitParams:
			ask := fmt.Sprintf("%s (elicitation: %q", id, p.Message)
			if schema, ok := p.RequestedSchema.(map[string]any); ok {
				if props, ok := schema["properties"].(map[string]any); ok {
					fields := make([]string, 0, len(props))
					for f := range props {
						fields = append(fields, f)
					}
					sort.Strings(fields)
					ask += ", fields: " + strings.Join(fields, ", ")
				}
			}
			asks = append(asks, ask+")")
		//lint:ignore SA1019 servers may still ask for sampling (deprecated, not gone)
		case *mcp.CreateMessageWithToolsParams, *mcp.CreateMessageParams:
			asks = append(asks, id+" (sampling: a model completion)")
		//lint:ignore SA1019 servers may still ask for roots (deprecated, not gone)
		case *mcp.ListRootsParams:
			asks = append(asks, id+" (roots: the client's roots)")
		default:
			asks = append(asks, id)
		}
	}
	sort.Strings(asks)
	msg := "input required: the tool needs input that tether can relay only over MCP 2026-07-28 " +
		"(or the invoke API with accept_input_requests)"
	if len(asks) > 0 {
		msg += "; it asked for " + strings.Join(asks, "; ")
	}
	return msg
}
