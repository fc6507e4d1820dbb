package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Usage text goes to stderr on any bad flag, where process supervisors
// collect it: a flag whose default comes from a secret-bearing variable
// says that it is set, never the value.
func TestUsageNeverShowsSecrets(t *testing.T) {
	const (
		keys      = "k1:c2VjcmV0LWtleS1tYXRlcmlhbC0wMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Ng=="
		keyBody   = "c2VjcmV0LWtleS1tYXRlcmlhbC0"
		bootstrap = "tth_bootstrap_0123456789abcdef"
	)
	t.Setenv("TETHER_ENCRYPTION_KEYS", keys)
	t.Setenv("TETHER_BOOTSTRAP_API_KEY", bootstrap)

	usage := func(t *testing.T, args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), args, &stdout, &stderr)
		require.Error(t, err)
		out := stdout.String() + stderr.String()
		assert.NotContains(t, out, keyBody, "the encryption key is in the usage text")
		assert.NotContains(t, out, bootstrap, "the bootstrap API key is in the usage text")
		return stderr.String()
	}

	t.Run("serve, bad flag", func(t *testing.T) {
		out := usage(t, "serve", "--bad-flag")
		assert.Contains(t, out, "flag provided but not defined: -bad-flag")
		assert.Contains(t, out, "-encryption-keys")
		assert.Contains(t, out, "(set from TETHER_ENCRYPTION_KEYS)")
		assert.Contains(t, out, "-bootstrap-api-key")
		assert.Contains(t, out, "(set from TETHER_BOOTSTRAP_API_KEY)")
	})
	t.Run("serve --help", func(t *testing.T) {
		var stderr bytes.Buffer
		err := run(context.Background(), []string{"serve", "--help"}, io.Discard, &stderr)
		require.True(t, errors.Is(err, flag.ErrHelp), "%v", err)
		assert.Contains(t, stderr.String(), "(set from TETHER_ENCRYPTION_KEYS)")
		assert.NotContains(t, stderr.String(), keyBody)
		assert.NotContains(t, stderr.String(), bootstrap)
	})
	for _, args := range [][]string{
		{"apikey", "list", "--bad-flag"},
		{"apikey", "create", "--help"},
		{"keys", "status", "--bad-flag"},
		{"keys", "rotate", "--help"},
		{"backup", "--bad-flag"},
	} {
		t.Run(args[0]+" "+args[1], func(t *testing.T) {
			out := usage(t, args...)
			assert.Contains(t, out, "-db", "usage goes to run's stderr")
		})
	}
}

// The secret flags still take their values from the environment, and a
// flag on the command line still wins.
func TestSecretFlagValues(t *testing.T) {
	t.Setenv("TETHER_ENCRYPTION_KEYS", "k1:from-env")
	t.Setenv("TETHER_BOOTSTRAP_API_KEY", "tth_from_env")
	cfg, err := parseServeFlags(nil, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "k1:from-env", cfg.EncryptionKeys)
	assert.Equal(t, "tth_from_env", cfg.BootstrapAPIKey)

	cfg, err = parseServeFlags([]string{"--encryption-keys", "k2:from-flag", "--bootstrap-api-key", "tth_from_flag"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "k2:from-flag", cfg.EncryptionKeys)
	assert.Equal(t, "tth_from_flag", cfg.BootstrapAPIKey)

	t.Setenv("TETHER_ENCRYPTION_KEYS", "")
	var stderr bytes.Buffer
	cfg, err = parseServeFlags([]string{"--help"}, &stderr)
	require.ErrorIs(t, err, flag.ErrHelp)
	assert.Empty(t, cfg.EncryptionKeys)
	assert.Contains(t, stderr.String(), "(env TETHER_ENCRYPTION_KEYS)")
}
