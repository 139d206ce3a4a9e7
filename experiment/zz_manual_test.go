package experiment

import (
	"os"
	"testing"

	"github.com/mirage-go/mirage/backend/registry"
)

func TestManualReport(t *testing.T) {
	if os.Getenv("MANUAL") == "" {
		t.Skip()
	}
	arms, err := ParseArms(os.Getenv("ARMS"), nil, registry.New())
	if err != nil {
		t.Fatal(err)
	}
	cfg := tinyConfig()
	cfg.Model = "lenet"
	_, err = Compare(CompareConfig{Base: cfg, Arms: arms, Out: "/tmp/exp/ab", Command: "manual"}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
}

func TestManualBadSpecs(t *testing.T) {
	if os.Getenv("MANUAL") == "" {
		t.Skip()
	}
	for _, sp := range []string{
		"base: {model: mlp}\nbackend: bfp\ngrid: {bfp-bitz: [4, 5]}",
		"base: {model: mlp}\nbackend: rns\noptions: {tile: 32}\ngrid: {rns-moduli: [special-k6, \"6,9,10\"]}",
		"base: {model: mlp}\nbackend: rns\ngrid: {adc-bits: [6, 8]}",
		"base: {model: mlp}\nbackend: rns\ngrid: {rns-moduli: [special-k5], tile: [64, 512], bfp-bits: [5,6]}",
		"base: {model: mlp}\nbackend: fp32\ngrids: {epochs: [1]}",
	} {
		s, err := ParseSpec([]byte(sp), "x.yaml")
		if err == nil {
			_, err = Plan(s)
		}
		t.Logf("%v\n", err)
	}
}
