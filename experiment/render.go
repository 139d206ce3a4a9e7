package experiment

// Render, the last of the reports' three steps (load, analyse, render):
// every Markdown document this package writes — a comparison's report.md,
// a sweep's report.md and the results document — is a text/template in
// templates/, embedded in the binary, executed on typed values that the
// analysis produced. The templates hold the words and the layout; the
// functions of format.go turn numbers into cells. Nothing here reads a
// file other than the embedded templates.

import (
	"embed"
	"fmt"
	"strings"
	"text/template"
)

//go:embed templates/*.md.tmpl
var templateFiles embed.FS

// render executes the template name (a file of templates/, which may use
// the templates defined by every other file there) on data.
func render(name string, data any) (string, error) {
	t, err := template.New(name).Funcs(formatFuncs()).Funcs(resultFuncs()).Option("missingkey=error").ParseFS(templateFiles, "templates/*.md.tmpl")
	if err != nil {
		return "", fmt.Errorf("templates: %w", err)
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, name, data); err != nil {
		return "", fmt.Errorf("rendering %s: %w", name, err)
	}
	return b.String(), nil
}
