package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// The Chinese edition: README.zh-CN.md and docs/zh-CN/NAME.md, the
// translations of README.md and docs/NAME.md, checked against them.

// translated are the English documents that must have a Chinese version.
func translated(t *testing.T, root string) []string {
	docs := []string{"README.md"}
	for _, pattern := range []string{"[0-9][0-9]-*.md", "vm.md", "workshop.md", "performance.md"} {
		m, _ := filepath.Glob(filepath.Join(root, "docs", pattern))
		for _, f := range m {
			docs = append(docs, filepath.Join("docs", filepath.Base(f)))
		}
	}
	return docs
}

// chinese is the path of an English document's translation.
func chinese(english string) string {
	if english == "README.md" {
		return "README.zh-CN.md"
	}
	return filepath.Join("docs", translationDir, filepath.Base(english))
}

// TestChineseEdition: every English chapter, the README and vm.md have a
// Chinese version with the same headings, at the same levels, the same
// generated blocks and code, no paragraph left in English, links that
// resolve and the glossary's terms only.
func TestChineseEdition(t *testing.T) {
	root := repoRoot(t)
	banned := bannedTerms(t, root)
	for _, english := range translated(t, root) {
		zh := chinese(english)
		t.Run(filepath.Base(zh), func(t *testing.T) {
			en := readDoc(t, root, english)
			doc, err := os.ReadFile(filepath.Join(root, zh))
			if err != nil {
				t.Fatalf("%s has no Chinese version %s", english, zh)
			}
			checkTranslation(t, en, string(doc))
			if back, _ := filepath.Rel(filepath.Dir(filepath.Join(root, english)), filepath.Join(root, zh)); !strings.Contains(en, "]("+back+")") {
				t.Errorf("%s does not link to its Chinese version %s", english, back)
			}
			if to, _ := filepath.Rel(filepath.Dir(filepath.Join(root, zh)), filepath.Join(root, english)); !strings.Contains(string(doc), "]("+to+")") {
				t.Errorf("%s does not link to its English original %s", zh, to)
			}
			for _, term := range banned {
				if strings.Contains(string(doc), term) {
					t.Errorf("%s uses %q: the glossary says not to", zh, term)
				}
			}
		})
	}
}

// checkTranslation compares a translation with its original.
func checkTranslation(t *testing.T, en, zh string) {
	t.Helper()
	if got, err := copyBlocks(en, zh); err != nil || got != zh || len(generatedBlock.FindAllString(en, -1)) != len(generatedBlock.FindAllString(zh, -1)) {
		t.Errorf("the generated blocks differ from the English chapter's (%v): run 'make docs'", err)
	}
	if e, z := headingLevels(en), headingLevels(zh); !slices.Equal(e, z) {
		t.Errorf("headings: the English has levels %v, the Chinese %v", e, z)
	}
	if e, z := codeBlocks(en), codeBlocks(zh); !slices.Equal(e, z) {
		t.Errorf("the code blocks differ (code, commands and output stay as they are): %d in English, %d in Chinese", len(e), len(z))
	}
	if e, z := strings.Count(en, "> **Older articles say**"), strings.Count(zh, "> **旧文章的说法**"); e != z {
		t.Errorf("%d boxes on older articles in English, %d in Chinese (旧文章的说法)", e, z)
	}
	for _, p := range untranslated(zh) {
		t.Errorf("left in English: %.120q", p)
	}
}

var (
	fence   = regexp.MustCompile("(?ms)^[ \t]*```([a-z]*)\n.*?^[ \t]*```[ \t]*$")
	heading = regexp.MustCompile(`(?m)^(#{1,6}) (.*)$`)
	comment = regexp.MustCompile(`(?s)<!--.*?-->`)
	cjk     = regexp.MustCompile(`\p{Han}`)
	latin   = regexp.MustCompile(`[A-Za-z]{2,}`)
)

// prose is a document without its generated blocks, code and comments.
func prose(doc string) string {
	doc = generatedBlock.ReplaceAllString(doc, "")
	doc = fence.ReplaceAllString(doc, "")
	return comment.ReplaceAllString(doc, "")
}

func headingLevels(doc string) []int {
	var levels []int
	for _, m := range heading.FindAllStringSubmatch(prose(doc), -1) {
		levels = append(levels, len(m[1]))
	}
	return levels
}

// codeBlocks are the fenced blocks but Mermaid diagrams, whose labels are
// translated.
func codeBlocks(doc string) []string {
	var blocks []string
	for _, m := range fence.FindAllStringSubmatch(generatedBlock.ReplaceAllString(doc, ""), -1) {
		if m[1] != "mermaid" {
			blocks = append(blocks, strings.TrimSpace(m[0]))
		}
	}
	return blocks
}

// untranslated finds paragraphs, list items and table rows with eight or
// more English words and no Chinese.
func untranslated(doc string) []string {
	var found []string
	parts := regexp.MustCompile(`\n\s*\n|\n(?:\s*(?:[-*]|\d+\.) |\|)`).Split(prose(doc), -1)
	for _, p := range parts {
		text := regexp.MustCompile("`[^`]*`|\\]\\([^)]*\\)|<[^>]+>").ReplaceAllString(p, "")
		if len(latin.FindAllString(text, -1)) >= 8 && !cjk.MatchString(text) {
			found = append(found, strings.TrimSpace(p))
		}
	}
	return found
}

// TestDocLinksResolve: every relative link of the documents, in both
// languages, names a file that exists and a heading that it has.
func TestDocLinksResolve(t *testing.T) {
	root := repoRoot(t)
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	more, _ := filepath.Glob(filepath.Join(root, "docs", translationDir, "*.md"))
	docs = append(append(docs, more...), filepath.Join(root, "README.md"), filepath.Join(root, "README.zh-CN.md"))
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, file := range docs {
		data, err := os.ReadFile(file)
		if os.IsNotExist(err) {
			continue
		}
		for _, m := range link.FindAllStringSubmatch(prose(string(data)), -1) {
			target := m[1]
			if regexp.MustCompile(`^[a-z]+:`).MatchString(target) {
				continue
			}
			name, anchor, _ := strings.Cut(target, "#")
			path := file
			if name != "" {
				path = filepath.Join(filepath.Dir(file), name)
			}
			rel, _ := filepath.Rel(root, file)
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s: link to %s: no such file", rel, target)
				continue
			}
			if anchor != "" && strings.HasSuffix(path, ".md") && !slices.Contains(anchors(t, path), anchor) {
				t.Errorf("%s: link to %s: no such heading", rel, target)
			}
		}
	}
}

// anchors are the ids GitHub gives a document's headings.
func anchors(t *testing.T, file string) []string {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	seen := map[string]int{}
	for _, m := range heading.FindAllStringSubmatch(prose(string(data)), -1) {
		id := slug(m[2])
		if n := seen[id]; n > 0 {
			ids = append(ids, id+"-"+strconv.Itoa(n))
		} else {
			ids = append(ids, id)
		}
		seen[id]++
	}
	return ids
}

// slug is GitHub's anchor for a heading: lower case, spaces to hyphens,
// links to their text, and every character but letters, digits, marks,
// hyphens and underscores dropped (Chinese punctuation too).
func slug(h string) string {
	h = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`).ReplaceAllString(h, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// bannedTerms are the glossary's "不用" column: synonyms the Chinese
// edition does not use.
func bannedTerms(t *testing.T, root string) []string {
	glossary := readDoc(t, root, filepath.Join("docs", translationDir, "glossary.md"))
	var terms []string
	for _, line := range strings.Split(glossary, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 6 || strings.Contains(line, "---") || strings.Contains(line, "English") {
			continue
		}
		for _, term := range regexp.MustCompile(`[、,]`).Split(cells[4], -1) {
			term = strings.TrimSpace(regexp.MustCompile(`（.*?）`).ReplaceAllString(term, ""))
			if term != "" {
				terms = append(terms, term)
			}
		}
	}
	if len(terms) < 10 {
		t.Fatalf("glossary.md: found %d terms not to use, want its table's 不用 column", len(terms))
	}
	return terms
}

func readDoc(t *testing.T, root, name string) string {
	data, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestSlugAndUntranslated(t *testing.T) {
	for h, want := range map[string]string{
		"2. 挂载传播：粗心的命名空间如何泄漏":                   "2-挂载传播粗心的命名空间如何泄漏",
		"`enterRoot`: chroot(2), then chdir(2)": "enterroot-chroot2-then-chdir2",
		"What's next":                           "whats-next",
	} {
		if got := slug(h); got != want {
			t.Errorf("slug(%q) = %q, want %q", h, got, want)
		}
	}
	doc := "# 标题\n\nThis paragraph was left in English by mistake, all of it.\n\n这一段已经翻译了，`with some code in it and more words here`。\n\n```sh\necho this is code and stays in English as it is\n```\n"
	if got := untranslated(doc); len(got) != 1 || !strings.HasPrefix(got[0], "This paragraph") {
		t.Errorf("untranslated = %q, want the English paragraph alone", got)
	}
}

// TestChineseReferencePages: the command references exist in Chinese too,
// with the same commands and help as the English ones (make docs).
func TestChineseReferencePages(t *testing.T) {
	root := repoRoot(t)
	for _, name := range []string{"skiff.md", "skiff-runtime.md"} {
		en := readDoc(t, root, filepath.Join("docs", name))
		want, ok := translateReference(en)
		if !ok {
			t.Fatalf("docs/%s does not start as skiff reference writes it", name)
		}
		if got := readDoc(t, root, filepath.Join("docs", translationDir, name)); got != want {
			t.Errorf("docs/%s/%s is stale: run 'make docs'", translationDir, name)
		}
	}
}
