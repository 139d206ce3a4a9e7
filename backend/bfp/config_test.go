package bfp

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/bfpengine"
	ibfp "github.com/mirage-go/mirage/internal/bfp"
)

func TestConfig(t *testing.T) {
	cfg := DefaultConfig()
	require.Equal(t, Config{Settings: bfpengine.Settings{Format: ibfp.Format{Bits: 7, Tile: 128}, NoiseSeed: 1, StatsEvery: 50}}, cfg)
	for _, tc := range []struct {
		opts backend.Options
		want func(*Config)
	}{
		{backend.Options{}, func(*Config) {}},
		{backend.Options{"bfp-bits": "8", "tile": "16"}, func(c *Config) { c.Format.Bits, c.Format.Tile = 8, 16 }},
		{backend.Options{"rounding": "stochastic"}, func(c *Config) { c.Format.Rounding = ibfp.Stochastic }},
		{backend.Options{"tile-accumulation": "ordered"}, func(c *Config) { c.Ordered = true }},
		{backend.Options{"tile-accumulation": ""}, func(c *Config) { c.Ordered = false }},
		{backend.Options{"fp32-layers": " , conv1"}, func(c *Config) { c.FP32Layers = []string{"conv1"} }},
		{backend.Options{"noise-seed": "0"}, func(c *Config) { c.NoiseSeed = 0 }},
		{backend.Options{"stats-every": "1"}, func(c *Config) { c.StatsEvery = 1 }},
	} {
		got := DefaultConfig()
		require.NoError(t, backend.DecodeOptions(&got, tc.opts, "bfp"), "%v", tc.opts)
		want := DefaultConfig()
		tc.want(&want)
		require.Equal(t, want, got, "%v", tc.opts)
		require.NoError(t, got.Validate())
		back := DefaultConfig()
		require.NoError(t, backend.DecodeOptions(&back, backend.EncodeOptions(&got), "bfp"))
		require.Equal(t, got, back, "round trip of %v", tc.opts)
	}
	bad := DefaultConfig()
	bad.Format.Bits = 11
	bad.Format.Tile = 32
	_, err := New(bad)
	require.ErrorContains(t, err, "lower --tile to 16 or --bfp-bits")
}
