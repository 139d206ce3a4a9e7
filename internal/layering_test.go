// Package internal_test holds the rule that keeps the bottom of the house
// at the bottom: the packages under internal/ are kernels and utilities
// that the public packages build on, so none of them may import a public
// package of this module. (Tests of internal packages may: they compare a
// kernel against the public code that uses it.)
package internal_test

import (
	"bufio"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// modulePath reads the module path from the go.mod in dir.
func modulePath(t *testing.T, dir string) string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.TrimSpace(rest)
		}
	}
	require.NoError(t, sc.Err())
	t.Fatal("go.mod has no module line")
	return ""
}

// publicImports lists, as "file: import path", every import of a public
// package of module made by a non-test Go file under root (the module's
// internal/ directory). Every file is read whatever its build constraints,
// so a platform- or tag-specific file cannot hide an import.
func publicImports(root, module string) ([]string, error) {
	internalPrefix := module + "/internal"
	var found []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name == "testdata" || (path != root && strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		file, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, spec := range file.Imports {
			imp, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			inModule := imp == module || strings.HasPrefix(imp, module+"/")
			isInternal := imp == internalPrefix || strings.HasPrefix(imp, internalPrefix+"/")
			if inModule && !isInternal {
				rel, _ := filepath.Rel(root, path)
				found = append(found, rel+": "+imp)
			}
		}
		return nil
	})
	return found, err
}

func TestInternalImportsNoPublicPackage(t *testing.T) {
	module := modulePath(t, "..")
	found, err := publicImports(".", module)
	require.NoError(t, err)
	require.Empty(t, found, "packages under internal/ must not import the public packages above them; move the code up or the shared type down")
}

// The check itself must see an offending import, including one in a file
// excluded by build constraints, and accept internal and outside imports.
func TestPublicImportsFindsOffenders(t *testing.T) {
	const module = "example.com/m"
	root := t.TempDir()
	files := map[string]string{
		"a/a.go":          "package a\nimport (\n\t\"fmt\"\n\t\"example.com/m/internal/b\"\n\t\"example.com/mother\"\n)\n",
		"a/a_test.go":     "package a\nimport \"example.com/m/layers\"\n",
		"b/b_linux.go":    "//go:build ignore\n\npackage b\nimport \"example.com/m/backend\"\n",
		"b/testdata/x.go": "package x\nimport \"example.com/m/models\"\n",
	}
	for name, src := range files {
		path := filepath.Join(root, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(src), 0o644))
	}
	found, err := publicImports(root, module)
	require.NoError(t, err)
	require.Equal(t, []string{filepath.Join("b", "b_linux.go") + ": example.com/m/backend"}, found)
}
