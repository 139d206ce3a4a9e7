package rns_test

import (
	"fmt"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/rns"
)

// A Go program configures a backend with its typed configuration; the
// serialised form, as a sweep row or summary.json keeps it, comes from
// EncodeOptions.
func ExampleNew() {
	cfg := rns.DefaultConfig()
	cfg.Noise.Sigma = 0.12
	b, err := rns.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	opts := backend.EncodeOptions(&cfg)
	fmt.Println(b.Name(), opts["rns-moduli"], opts["noise-sigma"], opts["rrns-redundant"])

	cfg.Redundant.Count = 9
	_, err = rns.New(cfg)
	fmt.Println(err)
	// Output:
	// rns special-k7 0.12 2
	// --rrns-redundant "9": give a count 0..4 (the most whose moduli product fits with moduli {127,128,129}) or a comma list of moduli such as 67,71
}

// The configuration that was the default until December 2026 is a preset:
// in Go ApplyPreset, on the command line --rns-preset k6. Options given
// beside a preset override it, in whichever order they come.
func ExampleConfig_ApplyPreset() {
	cfg := rns.DefaultConfig()
	if err := cfg.ApplyPreset("k6"); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Moduli, cfg.Format.Bits, cfg.Redundant.Count)

	b, err := rns.Factory(backend.Options{"bfp-bits": "5", "rns-preset": "k6"})
	if err != nil {
		fmt.Println(err)
		return
	}
	eff := b.(backend.Configurer).Config().(rns.EffectiveConfig)
	fmt.Println(eff.Moduli, eff.Bits, eff.Redundant)
	// Output:
	// [63 64 65] 6 0
	// [63 64 65] 5 []
}
