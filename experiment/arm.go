package experiment

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/mirage-go/mirage/backend"
)

// Arm is one side of a comparison: a backend and its options. Its label
// names it in reports and is its run directory's name.
type Arm struct {
	Label   string          `json:"label"`
	Backend string          `json:"backend"`
	Options backend.Options `json:"options,omitempty"`
}

// ParseArms reads a --backends list such as
//
//	fp32,rns,analog
//	fp32,rns:noise-sigma=0.12:rrns-redundant=2,rns:rns-moduli=63,64,65
//
// Arms are separated by commas; an arm is a backend name followed by
// optional ":knob=value" settings for that arm alone. A comma-separated
// piece that follows a knob=value setting and is neither a backend name nor
// a setting continues that value, so moduli lists need no quoting. shared holds options given for
// every arm (the CLI's --bfp-bits and the like): each applies to the arms
// whose backend has that option, and one that no arm accepts is an error.
// The same arm twice is allowed (an A/A test); the second gets the label
// suffix "-2".
func ParseArms(list string, shared backend.Options, reg *backend.Registry) ([]Arm, error) {
	pieces := splitArms(list, reg)
	if len(pieces) == 0 {
		return nil, fmt.Errorf("no backends given (valid: %s)", strings.Join(reg.Names(), ", "))
	}
	var arms []Arm
	used := map[string]bool{}
	seen := map[string]int{}
	for _, piece := range pieces {
		fields := strings.Split(piece, ":")
		name := strings.TrimSpace(fields[0])
		known := map[string]bool{}
		for _, o := range reg.Options(name) {
			known[o.Name] = true
		}
		if !contains(reg.Names(), name) {
			return nil, fmt.Errorf("unknown backend %q in --backends (valid: %s)", name, strings.Join(reg.Names(), ", "))
		}
		arm := Arm{Backend: name, Options: backend.Options{}}
		for k, v := range shared {
			if known[k] {
				arm.Options[k] = v
				used[k] = true
			}
		}
		for _, f := range fields[1:] {
			k, v, ok := strings.Cut(f, "=")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if !ok || k == "" {
				return nil, fmt.Errorf("backend %s: setting %q is not knob=value (e.g. rns:noise-sigma=0.1)", name, f)
			}
			if !known[k] {
				return nil, fmt.Errorf("backend %s has no option %q (its options: %s)", name, k, optionList(reg, name))
			}
			arm.Options[k] = v
		}
		if len(arm.Options) == 0 {
			arm.Options = nil
		}
		label := sanitizeLabel(strings.Join(fields, "_"))
		seen[label]++
		if seen[label] > 1 {
			label += "-" + strconv.Itoa(seen[label])
		}
		arm.Label = label
		arms = append(arms, arm)
	}
	var unused []string
	for k := range shared {
		if !used[k] {
			unused = append(unused, "--"+k)
		}
	}
	if len(unused) > 0 {
		sort.Strings(unused)
		return nil, fmt.Errorf("%s applies to none of the backends compared (%s)", strings.Join(unused, ", "), list)
	}
	return arms, nil
}

// splitArms splits at the commas that start a new backend.
func splitArms(list string, reg *backend.Registry) []string {
	var out []string
	for _, p := range strings.Split(list, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		name, _, _ := strings.Cut(p, ":")
		continues := len(out) > 0 && strings.Contains(out[len(out)-1], "=") && !strings.Contains(name, "=")
		if continues && !contains(reg.Names(), strings.TrimSpace(name)) {
			out[len(out)-1] += "," + p
			continue
		}
		out = append(out, p)
	}
	return out
}

func optionList(reg *backend.Registry, name string) string {
	specs := reg.Options(name)
	if len(specs) == 0 {
		return "none"
	}
	names := make([]string, len(specs))
	for i, o := range specs {
		names[i] = o.Name
	}
	return strings.Join(names, ", ")
}

// sanitizeLabel keeps a label usable as a directory name on any system.
func sanitizeLabel(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == '=', r == '_':
			b.WriteRune(r)
		default:
			b.WriteRune('_')
		}
	}
	return b.String()
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
