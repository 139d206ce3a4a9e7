package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/mirage-go/mirage"
	"github.com/mirage-go/mirage/datasets/catalog"
)

// dataSynopsis is data's usage text, naming the registered data sets.
func dataSynopsis(reg *catalog.Registry) string {
	return `data [list|verify|fetch NAME] [flags]

  list          where each data set is found (reads and fetches nothing)
  verify        list, then check published checksums and read every data set
                found, counting its examples (MNIST is found and checked by
                its own loader, which may fetch it)
  fetch NAME    download NAME (` + strings.Join(reg.Names(), ", ") + `) into the cache

Without --data-dir, data sets are looked for in $MIRAGE_DATA, in shared/data
of the working directory and its parents, and in the cache ($MIRAGE_CACHE or
~/.cache/mirage).`
}

// dataCommand implements `mirage data`.
func dataCommand(reg mirage.Registries, args []string, stdout, stderr io.Writer) error {
	action := "list"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		action, args = args[0], args[1:]
	}
	var fetchName string
	if action == "fetch" {
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return usageError{fmt.Errorf("fetch needs a data set name: %s", strings.Join(reg.Datasets.Names(), ", "))}
		}
		fetchName, args = args[0], args[1:]
	}
	fs := newFlagSet("data", dataSynopsis(reg.Datasets), stdout)
	dataDir := fs.String("data-dir", "", "look only in this folder (or archive) instead of the usual places")
	cacheDir := fs.String("cache-dir", "", "where downloads are kept (default $MIRAGE_CACHE or ~/.cache/mirage)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	opts := catalog.Options{CacheDir: *cacheDir, Log: stderr}
	switch action {
	case "list", "verify":
		list := reg.Datasets.List
		if action == "verify" {
			list = reg.Datasets.Verify
		}
		statuses, err := list(*dataDir, opts)
		if err != nil {
			return err
		}
		printStatuses(stdout, statuses)
		if action == "verify" {
			var failed []string
			for _, s := range statuses {
				if len(s.Checks) > 0 && !s.OK() {
					failed = append(failed, s.Name)
				}
			}
			if len(failed) > 0 {
				return fmt.Errorf("verification failed for %s", strings.Join(failed, ", "))
			}
		}
		return nil
	case "fetch":
		p, err := reg.Datasets.Fetch(context.Background(), fetchName, opts)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %s\n", fetchName, p)
		return nil
	}
	return usageError{fmt.Errorf("unknown action %q; use list, verify or fetch NAME", action)}
}

func printStatuses(w io.Writer, statuses []catalog.Status) {
	for i, s := range statuses {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s: %s\n", s.Name, s.Description)
		switch {
		case s.Location != "":
			fmt.Fprintf(w, "  found:     %s\n", s.Location)
		case len(s.Looked) > 0:
			fmt.Fprintf(w, "  not found in: %s\n", strings.Join(s.Looked, ", "))
		}
		if s.Note != "" {
			fmt.Fprintf(w, "  note:      %s\n", s.Note)
		}
		for _, c := range s.Checks {
			fmt.Fprintf(w, "  %s\n", c)
		}
	}
}
