package gateway_test

import (
	"context"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
)

// /mcp declares tools with listChanged and nothing else, and a method it
// does not serve is "method not found", not go-sdk's empty success.
func TestDeclaresOnlyWhatItServes(t *testing.T) { forEachVersion(t, testDeclaresOnlyWhatItServes) }

func testDeclaresOnlyWhatItServes(t *testing.T, version string) {
	e := newEnv(t, envOptions{})
	cs := e.agent(agentOptions{tenant: "acme", version: version})
	caps := cs.InitializeResult().Capabilities
	require.NotNil(t, caps.Tools)
	assert.True(t, caps.Tools.ListChanged)
	assert.Nil(t, caps.Resources)
	assert.Nil(t, caps.Prompts)
	//lint:ignore SA1019 checking that it is absent
	assert.Nil(t, caps.Logging)
	assert.Nil(t, caps.Completions)
	if version != newVersion {
		assert.Empty(t, caps.Extensions, "no extension is served over sessions")
	} else {
		assert.Equal(t, map[string]any{registry.TasksExtension: map[string]any{}}, caps.Extensions)
	}

	ctx := context.Background()
	refused := map[string]error{}
	_, refused["resources/list"] = cs.ListResources(ctx, nil)
	_, refused["resources/templates/list"] = cs.ListResourceTemplates(ctx, nil)
	_, refused["resources/read"] = cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "file:///etc/passwd"})
	_, refused["prompts/list"] = cs.ListPrompts(ctx, nil)
	_, refused["prompts/get"] = cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "x"})
	//lint:ignore SA1019 legacy clients still send it
	refused["logging/setLevel"] = cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "debug"})
	_, refused["completion/complete"] = cs.Complete(ctx, &mcp.CompleteParams{
		Ref: &mcp.CompleteReference{Type: "ref/prompt", Name: "x"}, Argument: mcp.CompleteParamsArgument{Name: "a"}})
	if version == newVersion {
		// The sessionless revision has no logging/setLevel (the level
		// rides in _meta, SEP-2577): refused before it is dispatched.
		assert.Error(t, refused["logging/setLevel"])
		delete(refused, "logging/setLevel")
	}
	for method, err := range refused {
		var werr *jsonrpc.Error
		if assert.ErrorAs(t, err, &werr, method) {
			assert.Equal(t, int64(jsonrpc.CodeMethodNotFound), werr.Code, method)
		}
	}
	// What it serves still works. (go-sdk v1.8.0's client sends ping
	// without the _meta the sessionless revision requires.)
	if version != newVersion {
		require.NoError(t, cs.Ping(ctx, nil))
	}
	_, err := cs.ListTools(ctx, nil)
	require.NoError(t, err)
}
