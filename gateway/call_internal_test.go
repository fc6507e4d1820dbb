package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/mcpclient"
	"github.com/tether-dev/tether/netguard"
	"github.com/tether-dev/tether/registry"
)

func TestDescribe(t *testing.T) {
	// What a closed pool answers, as the registry hands it on.
	pool := mcpclient.NewPool(mcpclient.PoolOptions{Client: mcpclient.New(mcpclient.Options{Guard: netguard.New(netguard.Options{})})})
	pool.Close()
	_, poolClosed := pool.CallTool(context.Background(), &registry.Connection{ID: "c1"}, "add", nil)
	require.Error(t, poolClosed)

	tests := []struct {
		name         string
		err          error
		want         string
		wantInternal bool
	}{
		{
			name: "timeout with the connection's budget",
			// mcpclient's message, as its pool words a timeout.
			err:  fmt.Errorf("%w: no answer within 1000ms", registry.ErrUpstreamTimeout),
			want: "upstream timeout: no answer within 1000ms",
		},
		{
			name: "disabled tool",
			err:  &registry.Error{Kind: registry.ErrToolUnavailable, Message: `tool "crm_add" is disabled`},
			want: `tool unavailable: tool "crm_add" is disabled`,
		},
		{
			name: "unknown tool",
			err:  &registry.Error{Kind: registry.ErrNotFound, Message: `no tool "crm_nope"`},
			want: `tool unavailable: no tool "crm_nope"`,
		},
		{
			name: "pool closed",
			err:  poolClosed,
			want: "upstream connection failed: " + mcpclient.ErrPoolClosed.Error(),
		},
		{
			name:         "tether's own failure stays in the log",
			err:          errors.New("database is locked"),
			want:         "internal error",
			wantInternal: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, internal := describe(tt.err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.wantInternal, internal)
		})
	}
}

func TestDecodeArgs(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		want    map[string]any
		wantErr bool
	}{
		{name: "absent", raw: "", want: map[string]any{}},
		{name: "null", raw: "null", want: map[string]any{}},
		{name: "object", raw: `{"a":1}`, want: map[string]any{"a": float64(1)}},
		{name: "array", raw: `[1]`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeArgs(json.RawMessage(tt.raw))
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestToResult(t *testing.T) {
	small := map[string]any{"content": []any{map[string]any{"type": "text", "text": "hi"}}, "isError": true}
	res, err := toResult(small, 1<<10)
	require.NoError(t, err)
	assert.True(t, res.IsError)
	require.Len(t, res.Content, 1)

	_, err = toResult(map[string]any{"content": []any{map[string]any{"type": "text", "text": string(make([]byte, 2048))}}}, 1<<10)
	assert.ErrorContains(t, err, "result larger than 1024 bytes")

	empty, err := toResult(map[string]any{}, 1<<10)
	require.NoError(t, err)
	assert.NotNil(t, empty.Content, "content is always present")
}

// TestToResultMatchesTheDecoder: a result built directly from its object
// encodes exactly as the SDK's decoder would have built it, and shapes the
// direct path does not know still come through whole.
func TestToResultMatchesTheDecoder(t *testing.T) {
	for name, in := range map[string]string{
		"text":       `{"content":[{"type":"text","text":"hi"},{"type":"text","text":""}]}`,
		"structured": `{"content":[{"type":"text","text":"{\"n\":3}"}],"structuredContent":{"n":3,"list":[1,"a",null]},"isError":false,"_meta":{"k":"v"}}`,
		"error":      `{"content":[{"type":"text","text":"boom"}],"isError":true}`,
		"nulls":      `{"content":null,"isError":null,"structuredContent":null}`,
		"empty":      `{}`,
		"annotated":  `{"content":[{"type":"text","text":"hi","annotations":{"priority":0.5},"_meta":{"a":1}}]}`,
		"image":      `{"content":[{"type":"image","data":"aGk=","mimeType":"image/png"},{"type":"text","text":"x"}]}`,
		"unknown":    `{"content":[],"requestState":"s","other":1}`,
	} {
		t.Run(name, func(t *testing.T) {
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(in), &m))
			var want mcp.CallToolResult
			require.NoError(t, json.Unmarshal([]byte(in), &want))
			if want.Content == nil {
				want.Content = []mcp.Content{}
			}
			wantJSON, err := json.Marshal(&want)
			require.NoError(t, err)

			got, err := toResult(m, 1<<20)
			require.NoError(t, err)
			gotJSON, err := json.Marshal(got)
			require.NoError(t, err)
			assert.JSONEq(t, string(wantJSON), string(gotJSON))
		})
	}
}

// TestToResultCapIsTheEncodedSize: the cap counts the encoded bytes, to
// the byte.
func TestToResultCapIsTheEncodedSize(t *testing.T) {
	m := map[string]any{"content": []any{map[string]any{"type": "text", "text": "<é>"}}}
	b, err := json.Marshal(m)
	require.NoError(t, err)
	_, err = toResult(m, int64(len(b)))
	require.NoError(t, err)
	_, err = toResult(m, int64(len(b))-1)
	assert.ErrorContains(t, err, "result larger than")
}
