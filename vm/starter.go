package main

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// A lesson marks what it adds with an //exercise:NN directive at the end of
// a declaration's doc comment, NN being the lesson's number:
//
//	// setHostname names the container. ...
//	//
//	//exercise:02 set the hostname with unix.Sethostname; see "The UTS namespace"
//	func setHostname(name string) error {
//
// `make exercise-NN` turns lesson NN into a starter: every function marked
// for NN keeps its doc comment and signature, and its body becomes a
// TODO(lesson NN) comment and a return of zero values, so the starter
// compiles, runs, and fails at the new primitive. A marked const or var
// goes back to lesson NN-1's declaration of the same name. The section in
// quotes is a heading of the lesson's chapter. Later lessons copy the
// directive with the code, and their starters leave it alone.
const exerciseDirective = "//exercise:"

// A check (a test of the lesson) names the chapter section to reread when
// it fails, with //check:reread SECTION in its doc comment. The chapter is
// the one of the lesson that introduced the test.
const rereadDirective = "//check:reread "

// marker is one lesson's //exercise:NN on a declaration.
type marker struct {
	name    string // the function, const or var
	text    string // what to do
	section string // the chapter's heading, from `see "..."`
}

var seeSection = regexp.MustCompile(`see "([^"]+)"\s*$`)

// markerOf reads a declaration's doc comment for lesson NN's
// //exercise:NN lines; several lines are one text.
func markerOf(number, name string, doc *ast.CommentGroup) (marker, bool) {
	if doc == nil {
		return marker{}, false
	}
	var parts []string
	for _, c := range doc.List {
		if text, ok := strings.CutPrefix(c.Text, exerciseDirective+number+" "); ok {
			parts = append(parts, strings.TrimSpace(text))
		}
	}
	if len(parts) == 0 {
		return marker{}, false
	}
	m := marker{name: name, text: strings.Join(parts, " ")}
	if s := seeSection.FindStringSubmatch(m.text); s != nil {
		m.section = s[1]
	}
	return m, true
}

// lesson is one lesson folder: lesson-03-pid is number "03", its chapter
// docs/03-pid.md.
type lesson struct {
	dir    string // absolute
	name   string // lesson-03-pid
	number string // 03
}

func (l lesson) chapter() string {
	return "docs/" + strings.TrimPrefix(l.name, "lesson-") + ".md"
}

func (l lesson) todo() string { return "TODO(lesson " + l.number + ")" }

// findLesson finds lesson NN's folder in the repository root.
func findLesson(root, number string) (lesson, error) {
	dirs, _ := filepath.Glob(filepath.Join(root, "lesson-"+number+"-*"))
	if len(dirs) != 1 {
		return lesson{}, fmt.Errorf("no lesson %s: want one folder lesson-%s-* in %s", number, number, root)
	}
	name := filepath.Base(dirs[0])
	return lesson{dir: dirs[0], name: name, number: number}, nil
}

// previous is lesson NN-1, if there is one.
func (l lesson) previous() (lesson, bool) {
	n, _ := strconv.Atoi(l.number)
	prev, err := findLesson(filepath.Dir(l.dir), fmt.Sprintf("%02d", n-1))
	return prev, err == nil
}

// writeStarter writes lesson l's starter into dir, which must not exist
// yet: a learner's work is never overwritten. It returns the markers, in
// file order.
func writeStarter(l lesson, dir string) ([]marker, error) {
	if _, err := os.Lstat(dir); err == nil {
		return nil, fmt.Errorf("%s already exists, with your work in it: remove it (or give another DIR) to start over", dir)
	}
	sources, err := starterSources(l)
	if err != nil {
		return nil, err
	}
	var all []marker
	for _, name := range slices.Sorted(maps.Keys(sources)) {
		if !strings.HasSuffix(name, ".go") {
			continue
		}
		out, markers, err := stubFile(l, name, sources[name])
		if err != nil {
			return nil, err
		}
		sources[name], all = out, append(all, markers...)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("%s has no %s%s markers: nothing to leave for you to write", l.name, exerciseDirective, l.number)
	}
	// Written aside and renamed: a failure leaves no half-written starter
	// that a second make exercise-NN would take for the learner's work.
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	sources["README.md"] = starterReadme(l, all)
	if err := writeFiles(tmp, sources); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	return all, nil
}

// writeFiles writes files (relative name -> content) under dir.
func writeFiles(dir string, files map[string][]byte) error {
	for name, src := range files {
		file := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(file, src, fileMode(name)); err != nil {
			return err
		}
	}
	return nil
}

func fileMode(name string) fs.FileMode {
	if strings.HasSuffix(name, ".sh") {
		return 0o755
	}
	return 0o644
}

// starterSources reads the lesson's files a starter is made of: all but
// its tests, which `make check-NN` takes from the lesson itself.
func starterSources(l lesson) (map[string][]byte, error) {
	files := map[string][]byte{}
	err := filepath.WalkDir(l.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.go") {
			return err
		}
		rel, _ := filepath.Rel(l.dir, p)
		files[rel], err = os.ReadFile(p)
		return err
	})
	return files, err
}

// stubFile rewrites one Go file of the lesson: marked declarations are cut
// back to a skeleton, imports left unused are dropped, and gofmt's layout
// is kept.
func stubFile(l lesson, name string, src []byte) ([]byte, []marker, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.ParseComments)
	if err != nil {
		return nil, nil, err
	}
	types := localTypes(f)
	var edits []edit
	var markers []marker
	for _, decl := range f.Decls {
		var e edit
		var m marker
		var ok bool
		switch d := decl.(type) {
		case *ast.FuncDecl:
			if m, ok = markerOf(l.number, d.Name.Name, d.Doc); ok {
				e = stubFunc(fset, src, d, l, m, types)
			}
		case *ast.GenDecl:
			if len(d.Specs) != 1 {
				continue
			}
			spec, isValue := d.Specs[0].(*ast.ValueSpec)
			if m, ok = markerOf(l.number, d.Tok.String()+" "+firstName(spec), d.Doc); ok {
				if !isValue {
					return nil, nil, fmt.Errorf("%s: %s: only funcs, consts and vars can be marked", name, m.name)
				}
				if e, err = previousDecl(fset, d, spec.Names[0].Name, l, m); err != nil {
					return nil, nil, err
				}
			}
		}
		if ok {
			edits, markers = append(edits, e), append(markers, m)
		}
	}
	if len(edits) == 0 {
		out, err := tidy(name, src)
		return out, nil, err
	}
	out, err := tidy(name, applyEdits(src, edits))
	return out, markers, err
}

func firstName(spec *ast.ValueSpec) string {
	if spec == nil || len(spec.Names) == 0 {
		return ""
	}
	return spec.Names[0].Name
}

// edit replaces src[start:end].
type edit struct {
	start, end int
	text       string
}

func applyEdits(src []byte, edits []edit) []byte {
	var out bytes.Buffer
	at := 0
	for _, e := range edits {
		out.Write(src[at:e.start])
		out.WriteString(e.text)
		at = e.end
	}
	out.Write(src[at:])
	return out.Bytes()
}

// stubFunc keeps a marked function's doc comment (without the directive)
// and signature, and replaces its body.
func stubFunc(fset *token.FileSet, src []byte, d *ast.FuncDecl, l lesson, m marker, types map[string]ast.Expr) edit {
	start := fset.Position(d.Doc.Pos()).Offset
	var b strings.Builder
	b.WriteString(docWithout(d.Doc, exerciseDirective+l.number+" "))
	b.Write(src[fset.Position(d.Pos()).Offset:fset.Position(d.Body.Lbrace).Offset])
	b.WriteString("{\n")
	b.WriteString(todoComment(l, m, "\t"))
	if results := zeroValues(d.Type.Results, types); results != "" {
		b.WriteString("\treturn " + results + "\n")
	}
	b.WriteString("}")
	return edit{start, fset.Position(d.End()).Offset, b.String()}
}

// previousDecl takes a marked const or var back to lesson NN-1's.
func previousDecl(fset *token.FileSet, d *ast.GenDecl, name string, l lesson, m marker) (edit, error) {
	prev, ok := l.previous()
	if !ok {
		return edit{}, fmt.Errorf("%s: %s is marked, but there is no lesson before %s to take it from", l.name, m.name, l.name)
	}
	text, err := findDecl(prev, d.Tok, name)
	if err != nil {
		return edit{}, err
	}
	todo := "//\n" + todoComment(l, m, "")
	if !strings.HasPrefix(text, "//") {
		todo = todoComment(l, m, "")
	}
	// The TODO goes last in the doc comment, right above the declaration.
	i := strings.LastIndex(text, "\n"+d.Tok.String()+" ")
	text = text[:i+1] + todo + text[i+1:]
	return edit{fset.Position(d.Doc.Pos()).Offset, fset.Position(d.End()).Offset, text}, nil
}

// findDecl returns the source of the const or var name in lesson l, with
// its doc comment.
func findDecl(l lesson, tok token.Token, name string) (string, error) {
	files, _ := filepath.Glob(filepath.Join(l.dir, "*.go"))
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		src, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, file, src, parser.ParseComments)
		if err != nil {
			return "", err
		}
		for _, decl := range f.Decls {
			if d, ok := decl.(*ast.GenDecl); ok && d.Tok == tok && len(d.Specs) == 1 {
				if spec, ok := d.Specs[0].(*ast.ValueSpec); ok && firstName(spec) == name {
					start := d.Pos()
					if d.Doc != nil {
						start = d.Doc.Pos()
					}
					return string(src[fset.Position(start).Offset:fset.Position(d.End()).Offset]), nil
				}
			}
		}
	}
	return "", fmt.Errorf("%s %s is marked in the lesson after %s, which has no %s %s", tok, name, l.name, tok, name)
}

// docWithout is a doc comment without the lines of one directive, and
// without the empty comment line that set them apart.
func docWithout(doc *ast.CommentGroup, directive string) string {
	var lines []string
	for _, c := range doc.List {
		if !strings.HasPrefix(c.Text, directive) {
			lines = append(lines, c.Text)
		}
	}
	for len(lines) > 0 && lines[len(lines)-1] == "//" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

// todoComment is the TODO a learner fills, wrapped at about 100 columns.
func todoComment(l lesson, m marker, indent string) string {
	text := l.todo() + ": " + m.text
	if m.section != "" {
		text += " in " + l.chapter()
	}
	text += "."
	var b strings.Builder
	line := indent + "//"
	for _, word := range strings.Fields(text) {
		if len(line)+1+len(word) > 100 && line != indent+"//" {
			b.WriteString(line + "\n")
			line = indent + "//"
		}
		line += " " + word
	}
	b.WriteString(line + "\n")
	return b.String()
}

// localTypes maps the file's type names to their definitions, for zero
// values.
func localTypes(f *ast.File) map[string]ast.Expr {
	types := map[string]ast.Expr{}
	for _, decl := range f.Decls {
		if d, ok := decl.(*ast.GenDecl); ok && d.Tok == token.TYPE {
			for _, s := range d.Specs {
				ts := s.(*ast.TypeSpec)
				types[ts.Name.Name] = ts.Type
			}
		}
	}
	return types
}

// zeroValues is the list of zero values for a function's results.
func zeroValues(results *ast.FieldList, types map[string]ast.Expr) string {
	if results == nil {
		return ""
	}
	var zeros []string
	for _, field := range results.List {
		n := max(len(field.Names), 1)
		for range n {
			zeros = append(zeros, zeroValue(field.Type, types))
		}
	}
	return strings.Join(zeros, ", ")
}

func zeroValue(t ast.Expr, types map[string]ast.Expr) string {
	switch t := t.(type) {
	case *ast.StarExpr, *ast.ArrayType, *ast.MapType, *ast.ChanType, *ast.FuncType, *ast.InterfaceType:
		if a, ok := t.(*ast.ArrayType); ok && a.Len != nil {
			return exprString(t) + "{}"
		}
		return "nil"
	case *ast.Ident:
		switch t.Name {
		case "error", "any":
			return "nil"
		case "string":
			return `""`
		case "bool":
			return "false"
		case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64",
			"uintptr", "float32", "float64", "byte", "rune":
			return "0"
		}
		if def, ok := types[t.Name]; ok {
			if _, isStruct := def.(*ast.StructType); isStruct {
				return t.Name + "{}"
			}
			if zero := zeroValue(def, types); zero != "*new("+exprString(def)+")" {
				return zero
			}
		}
	case *ast.SelectorExpr:
		if known, ok := knownZeros[exprString(t)]; ok {
			return known
		}
	}
	return "*new(" + exprString(t) + ")"
}

// knownZeros: the other packages' types that marked functions return.
var knownZeros = map[string]string{"netlink.Link": "nil", "net.IP": "nil", "time.Duration": "0"}

func exprString(e ast.Expr) string {
	var b bytes.Buffer
	format.Node(&b, token.NewFileSet(), e)
	return b.String()
}

// tidy drops what the starter no longer needs: the imports only the cut
// bodies used, and the //exercise: directives, which are for this
// generator, not for the learner. It formats the file as gofmt does.
func tidy(name string, src []byte) ([]byte, error) {
	lines := strings.Split(string(src), "\n")
	drop := map[int]bool{}
	for i, line := range lines {
		if strings.HasPrefix(strings.TrimSpace(line), exerciseDirective) {
			drop[i] = true
		}
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.ParseComments)
	if err != nil {
		return nil, fmt.Errorf("the starter of %s does not parse: %w", name, err)
	}
	used := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok {
				used[id.Name] = true
			}
		}
		return true
	})
	for _, imp := range f.Imports {
		if name := importName(imp); name != "_" && name != "." && !used[name] {
			drop[fset.Position(imp.Pos()).Line-1] = true
		}
	}
	var kept []string
	for i, line := range lines {
		if !drop[i] {
			kept = append(kept, line)
		}
	}
	// A doc comment whose directives went keeps no empty last line.
	var out []string
	for i, line := range kept {
		next := ""
		if i+1 < len(kept) {
			next = strings.TrimSpace(kept[i+1])
		}
		if strings.TrimSpace(line) == "//" && !strings.HasPrefix(next, "//") {
			continue
		}
		out = append(out, line)
	}
	formatted, err := format.Source([]byte(strings.Join(out, "\n")))
	if err != nil {
		return nil, fmt.Errorf("the starter of %s: %w", name, err)
	}
	return formatted, nil
}

// importName is the name an import is used by: its own name, or the last
// element of its path that is not a major version ("cli/v3" is cli).
func importName(s *ast.ImportSpec) string {
	if s.Name != nil {
		return s.Name.Name
	}
	p, _ := strconv.Unquote(s.Path.Value)
	base := path.Base(p)
	if regexp.MustCompile(`^v[0-9]+$`).MatchString(base) {
		base = path.Base(path.Dir(p))
	}
	return base
}

// starterReadme tells the learner what the starter is and what to do.
func starterReadme(l lesson, markers []marker) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Your %s\n\n", l.name)
	fmt.Fprintf(&b, "This folder is yours: `make exercise-%s` made it from the lesson, and never overwrites it.\n", l.number)
	prevText := "the lesson's code"
	if prev, ok := l.previous(); ok {
		prevText = prev.name + "'s complete code"
	}
	fmt.Fprintf(&b, "It is %s, with the skeleton of what lesson %s adds: the functions below keep their\n", prevText, l.number)
	fmt.Fprintf(&b, "names, signatures and doc comments, and their bodies are yours to write. It builds and runs, and\n")
	fmt.Fprintf(&b, "fails where the new primitive should be.\n\n")
	fmt.Fprintf(&b, "Read [%s](../../%s), then fill each `%s`:\n\n", l.chapter(), l.chapter(), l.todo())
	for _, m := range markers {
		fmt.Fprintf(&b, "- `%s`: %s\n", m.name, m.text)
	}
	fmt.Fprintf(&b, "\nCheck your work at any time, from the repository's root (it runs the lesson's own tests against\nthis folder, as root in the VM):\n\n")
	fmt.Fprintf(&b, "    make check-%s\n\n", l.number)
	fmt.Fprintf(&b, "`grep -n '%s' *.go` lists what is left. The Go tools work in this folder as in the\n", l.todo())
	fmt.Fprintf(&b, "lesson's (work/go.work makes it a workspace of its own).\n")
	return []byte(b.String())
}

// writeWorkspace makes dir (work/) a Go workspace of the starters in it,
// so that go build and editors work there as in the lessons.
func writeWorkspace(dir, repoWork string) error {
	mods, _ := filepath.Glob(filepath.Join(dir, "*", "go.mod"))
	if len(mods) == 0 {
		return errors.New("no starter in " + dir)
	}
	work, err := os.ReadFile(repoWork)
	if err != nil {
		return err
	}
	goLine := regexp.MustCompile(`(?m)^go .*$`).Find(work)
	var b strings.Builder
	b.WriteString("// Written by make exercise-NN: the starters in this folder.\n" + string(goLine) + "\n\nuse (\n")
	for _, m := range mods {
		b.WriteString("\t./" + filepath.Base(filepath.Dir(m)) + "\n")
	}
	b.WriteString(")\n")
	return os.WriteFile(filepath.Join(dir, "go.work"), []byte(b.String()), 0o644)
}
