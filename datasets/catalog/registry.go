package catalog

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Registry holds data-set sources by name, in the order registered. It is
// a value a program builds and passes to what needs it; mirage keeps no
// global registry.
type Registry struct {
	sources []Source
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{} }

// Register adds s. A source without a name or input kind, or whose name
// is taken, is refused.
func (r *Registry) Register(s Source) error {
	d := s.Describe()
	switch {
	case d.Name == "" || strings.ContainsAny(d.Name, ", \t\n:="):
		return fmt.Errorf("catalog: invalid data set name %q (want a non-empty name without spaces, commas, colons or =)", d.Name)
	case d.Input == "":
		return fmt.Errorf("catalog: data set %s does not say what its examples are (Description.Input)", d.Name)
	}
	if _, ok := r.Lookup(d.Name); ok {
		return fmt.Errorf("catalog: data set %s is already registered", d.Name)
	}
	r.sources = append(r.sources, s)
	return nil
}

// Names lists the registered data sets in the order registered.
func (r *Registry) Names() []string {
	names := make([]string, len(r.sources))
	for i, s := range r.sources {
		names[i] = s.Describe().Name
	}
	return names
}

// Lookup returns the source of the named data set.
func (r *Registry) Lookup(name string) (Source, bool) {
	for _, s := range r.sources {
		if s.Describe().Name == name {
			return s, true
		}
	}
	return nil, false
}

// Get returns the source of the named data set, or an error listing the
// valid names.
func (r *Registry) Get(name string) (Source, error) {
	if s, ok := r.Lookup(name); ok {
		return s, nil
	}
	return nil, fmt.Errorf("unknown data set %q; valid names: %s", name, strings.Join(r.Names(), ", "))
}

// Open opens the data set called name. dataDir, when not empty, is the
// only place looked at. It logs where the data came from, how many
// examples it holds and what was skipped.
func (r *Registry) Open(name, dataDir string, opts Options) (*Data, error) {
	s, err := r.Get(name)
	if err != nil {
		return nil, err
	}
	opts, err = opts.withDefaults()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	d, err := s.Open(dataDir, opts)
	if err != nil {
		return nil, err
	}
	if d.Name == "" {
		d.Name = name
	}
	fmt.Fprintf(opts.Log, "%s: %d training and %d test examples from %s (%.1fs)\n",
		name, d.Train.Len(), d.Test.Len(), d.Source, time.Since(start).Seconds())
	for _, s := range slices.Concat(d.Skipped, d.Warnings) {
		fmt.Fprintf(opts.Log, "%s: %s\n", name, s)
	}
	return d, nil
}

// List says where each data set is, without reading or fetching anything.
func (r *Registry) List(dataDir string, opts Options) ([]Status, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	out := make([]Status, 0, len(r.sources))
	for _, src := range r.sources {
		d := src.Describe()
		s := src.Locate(dataDir, opts)
		s.Name, s.Description = d.Name, d.About
		out = append(out, s)
	}
	return out, nil
}

// Verify is List plus, for each data set found, its checksums where a
// published one is known and a full read that counts the examples.
// Some sources (MNIST) find, check and possibly fetch their files as they
// are opened.
func (r *Registry) Verify(dataDir string, opts Options) ([]Status, error) {
	statuses, err := r.List(dataDir, opts)
	if err != nil {
		return nil, err
	}
	opts, err = opts.withDefaults()
	if err != nil {
		return nil, err
	}
	for i, src := range r.sources {
		statuses[i] = src.Verify(dataDir, statuses[i], opts)
	}
	return statuses, nil
}

// Fetch downloads the data set called name into the cache, unless a
// verified copy is there already, and returns where it is.
func (r *Registry) Fetch(ctx context.Context, name string, opts Options) (string, error) {
	s, err := r.Get(name)
	if err != nil {
		return "", err
	}
	opts, err = opts.withDefaults()
	if err != nil {
		return "", err
	}
	return s.Fetch(ctx, opts)
}
