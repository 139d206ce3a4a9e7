package cost

import "testing"

func TestPresetsLoad(t *testing.T) {
	for _, name := range Presets() {
		p, err := Preset(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if p.Name != name {
			t.Errorf("preset file %s.yaml is named %q", name, p.Name)
		}
		if _, err := New(p); err != nil {
			t.Fatal(err)
		}
	}
}
