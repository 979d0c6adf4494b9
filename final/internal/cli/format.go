package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"text/template"
)

// templateFuncs are the functions Docker's --format templates use.
var templateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		data, err := json.Marshal(v)
		return string(data), err
	},
	"join":    strings.Join,
	"split":   strings.Split,
	"lower":   strings.ToLower,
	"upper":   strings.ToUpper,
	"println": fmt.Sprintln,
}

// formatter prints values through a --format template, as Docker does:
// "table TEMPLATE" adds a header row (the same template applied to the
// header's values) and aligns columns; "\t" in the template is a tab.
type formatter struct {
	tmpl  *template.Template
	table bool
}

func newFormatter(format string) (*formatter, error) {
	f := &formatter{}
	if rest, ok := strings.CutPrefix(format, "table"); ok && (rest == "" || rest[0] == ' ') {
		f.table, format = true, strings.TrimSpace(rest)
	}
	format = strings.ReplaceAll(format, `\t`, "\t")
	tmpl, err := template.New("format").Funcs(templateFuncs).Option("missingkey=error").Parse(format + "\n")
	if err != nil {
		return nil, fmt.Errorf("--format: %w", err)
	}
	f.tmpl = tmpl
	return f, nil
}

// print writes header (for a table) and then each value.
func (f *formatter) print(out io.Writer, header any, values []any) error {
	w := out
	var tw *tabwriter.Writer
	if f.table {
		tw = tabwriter.NewWriter(out, 0, 8, 3, ' ', 0)
		w = tw
		if err := f.tmpl.Execute(w, header); err != nil {
			return fmt.Errorf("--format: %w", err)
		}
	}
	for _, v := range values {
		if err := f.tmpl.Execute(w, v); err != nil {
			return fmt.Errorf("--format: %w", err)
		}
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

// listFormatter is the formatter of a list command (ps, history,
// volume ls): --quiet prints quiet alone (an ID or a name), --format
// TEMPLATE as given, and neither the command's table.
func listFormatter(cmd interface {
	Bool(string) bool
	String(string) string
}, quiet, table string) (*formatter, error) {
	format := cmd.String("format")
	switch {
	case cmd.Bool("quiet"):
		format = quiet
	case format == "":
		format = table
	}
	return newFormatter(format)
}

// printInspected prints what an inspect command found, as Docker does:
// each of views through the --format template when there is one, else
// array (a slice) as an indented JSON array. A bad template is found
// before anything is looked up (checkFormat).
func printInspected(format string, array any, views []any) error {
	if format != "" {
		f, err := newFormatter(format)
		if err != nil {
			return err
		}
		return f.print(os.Stdout, nil, views)
	}
	data, err := json.MarshalIndent(array, "", "    ")
	if err != nil {
		return err
	}
	_, err = fmt.Println(string(data))
	return err
}

// checkFormat refuses a --format template that does not parse.
func checkFormat(format string) error {
	if format == "" {
		return nil
	}
	_, err := newFormatter(format)
	return err
}
