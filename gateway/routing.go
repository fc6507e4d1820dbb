package gateway

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tether-dev/tether/internal/mcpheader"
)

// Routing headers (SEP-2243) as the 2026-07-28 revision reads them, before
// the fast path or the SDK compares them with the body:
//
//   - A server MUST decode an Mcp-Name sent in the base64 sentinel form
//     ("=?base64?…?=") before comparing it. go-sdk v1.8.0 compares the
//     raw value, refusing a conforming client that encodes; the decoded
//     value is put in its place (an invalid encoding is left as it is,
//     and refused as a mismatch).
//   - A routing header (or an Mcp-Param-* one) sent twice is refused: each reader takes one value
//     (Go's the first), and the point of checking headers against the
//     body is that an intermediary routing by the header and tether
//     serving the body agree.

// routingHeaders are the headers checked against the body.
var routingHeaders = []string{"Mcp-Protocol-Version", "Mcp-Method", "Mcp-Name"}

// normalizeRouting prepares a 2026-07-28 POST's routing headers, or
// answers it (400, HeaderMismatch) and reports false.
func normalizeRouting(w http.ResponseWriter, r *http.Request) bool {
	for _, name := range routingHeaders {
		if len(r.Header.Values(name)) > 1 {
			refuseHeaders(w, r, "header mismatch: "+name+" is given more than once")
			return false
		}
	}
	for name, values := range r.Header {
		// A tool's parameter headers (x-mcp-header) route too.
		if len(values) > 1 && strings.HasPrefix(name, "Mcp-Param-") {
			refuseHeaders(w, r, "header mismatch: "+name+" is given more than once")
			return false
		}
	}
	if name := r.Header.Get("Mcp-Name"); name != "" {
		if dec, ok := mcpheader.Decode(name); ok && dec != name {
			r.Header.Set("Mcp-Name", dec)
		}
	}
	return true
}

// refuseHeaders answers a request whose routing headers are refused, with
// the request's id when its body has one.
func refuseHeaders(w http.ResponseWriter, r *http.Request, msg string) {
	var id json.RawMessage = []byte("null")
	if body, ok := peekBody(r); ok {
		if req, ok := decodeRequest(body); ok {
			id = req.ID
		}
	}
	e, _ := json.Marshal(&jsonrpc.Error{Code: mcp.CodeHeaderMismatch, Message: msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":` + string(id) + `,"error":` + string(e) + "}\n"))
}

// checkRequestMeta makes the revision's checks of a 2026-07-28 request's
// protocol version and _meta (SEP-2575), as the SDK makes them for what it
// serves, for the requests served in front of it (tasks.go): nil when
// they pass, otherwise the error to answer with 400.
func checkRequestMeta(r *http.Request, meta map[string]any) *jsonrpc.Error {
	header := r.Header.Get("Mcp-Protocol-Version")
	version, _ := meta[mcp.MetaKeyProtocolVersion].(string)
	switch {
	case version == "":
		return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: `missing or invalid _meta field "` + mcp.MetaKeyProtocolVersion + `"`}
	case version != header:
		return &jsonrpc.Error{Code: mcp.CodeHeaderMismatch, Message: "Mcp-Protocol-Version header does not match the request's " + mcp.MetaKeyProtocolVersion}
	case header != statelessVersion:
		data, _ := json.Marshal(map[string]any{"supported": mcp.SupportedProtocolVersions(), "requested": header})
		return &jsonrpc.Error{Code: mcp.CodeUnsupportedProtocolVersion, Message: "unsupported protocol version", Data: data}
	case !validRequestMeta(meta):
		return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: `missing or invalid _meta field "` + mcp.MetaKeyClientCapabilities + `" or "` + mcp.MetaKeyClientInfo + `"`}
	}
	return nil
}
