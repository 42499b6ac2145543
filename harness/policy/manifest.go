package policy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"
)

// Input is one object read from a manifest, with where it came from.
type Input struct {
	File   string // path as given, or "-" for stdin
	Line   int    // first line of the YAML document holding the object
	Object *unstructured.Unstructured
}

// ReadPaths reads every object from files, directories (recursively: .yaml,
// .yml and .json files) and "-" (stdin). Multi-document YAML, JSON objects and
// kind: List are understood. Any document that does not parse, or parses to
// something that is not a Kubernetes object, is an error naming the file and
// line: nothing is skipped silently.
func ReadPaths(paths []string, stdin io.Reader) ([]Input, error) {
	var out []Input
	for _, p := range paths {
		if p == "-" {
			if stdin == nil {
				return nil, errors.New("-: stdin not available")
			}
			docs, err := decodeDocuments(stdin, "-")
			if err != nil {
				return nil, err
			}
			out = append(out, docs...)
			continue
		}
		files, err := manifestFiles(p)
		if err != nil {
			return nil, err
		}
		docs, err := decodeFiles(files)
		if err != nil {
			return nil, err
		}
		out = append(out, docs...)
	}
	return out, nil
}

// decodeFiles parses files on every core (YAML decoding dominates reading a
// large corpus) and returns their objects in file order; the first error in
// file order wins, so the message does not depend on scheduling.
func decodeFiles(files []string) ([]Input, error) {
	docs := make([][]Input, len(files))
	errs := make([]error, len(files))
	forEachIndex(len(files), func(i int) {
		docs[i], errs[i] = decodeFile(files[i])
	})
	var out []Input
	for i := range files {
		if errs[i] != nil {
			return nil, errs[i]
		}
		out = append(out, docs[i]...)
	}
	return out, nil
}

func decodeFile(name string) ([]Input, error) {
	fh, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	defer fh.Close()
	return decodeDocuments(fh, name)
}

func manifestFiles(p string) ([]string, error) {
	info, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	if !info.IsDir() {
		return []string{p}, nil
	}
	var files []string
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
			if !d.IsDir() {
				files = append(files, path)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read manifests under %s: %w", p, err)
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no .yaml, .yml or .json files", p)
	}
	return files, nil
}

// decodeDocuments splits a YAML stream on "---" lines, keeping each
// document's first line so that errors point at it.
func decodeDocuments(r io.Reader, name string) ([]Input, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 64*1024*1024)
	var out []Input
	var doc bytes.Buffer
	start, line := 1, 0
	flush := func() error {
		objs, err := decodeDocument(doc.Bytes())
		if err != nil {
			return fmt.Errorf("%s:%d: %s", name, start, absoluteLines(err.Error(), start))
		}
		for _, o := range objs {
			out = append(out, Input{File: name, Line: start, Object: o})
		}
		doc.Reset()
		return nil
	}
	for sc.Scan() {
		line++
		text := sc.Text()
		if strings.HasPrefix(text, "---") && strings.TrimSpace(strings.TrimLeft(text, "-")) == "" {
			if err := flush(); err != nil {
				return nil, err
			}
			start = line + 1
			continue
		}
		doc.WriteString(text)
		doc.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

var yamlLineRE = regexp.MustCompile(`yaml: line (\d+):`)

// absoluteLines rewrites the YAML parser's document-relative "line N" into
// a line of the whole file, so the message points where the user must look.
func absoluteLines(msg string, docStart int) string {
	return yamlLineRE.ReplaceAllStringFunc(msg, func(m string) string {
		n, _ := strconv.Atoi(yamlLineRE.FindStringSubmatch(m)[1])
		return fmt.Sprintf("yaml: line %d:", n+docStart-1)
	})
}

// decodeDocument turns one YAML or JSON document into objects; an empty or
// comment-only document yields none.
func decodeDocument(raw []byte) ([]*unstructured.Unstructured, error) {
	if len(bytes.TrimSpace(stripComments(raw))) == 0 {
		return nil, nil
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, err
	}
	if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		return nil, nil
	}
	// The document is JSON now: decode it as JSON (numbers as int64 or
	// float64, as Unstructured wants) rather than through YAML a second time.
	var m map[string]any
	if err := utiljson.Unmarshal(js, &m); err != nil {
		return nil, fmt.Errorf("not a Kubernetes object: %w", err)
	}
	o := &unstructured.Unstructured{Object: m}
	if o.GetAPIVersion() == "" {
		return nil, errors.New("object has no apiVersion")
	}
	if o.GetKind() == "" {
		return nil, errors.New("object has no kind")
	}
	if !o.IsList() {
		return []*unstructured.Unstructured{o}, nil
	}
	list, err := o.ToList()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.GetKind(), err)
	}
	out := make([]*unstructured.Unstructured, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}

func stripComments(raw []byte) []byte {
	var b bytes.Buffer
	for _, l := range bytes.Split(raw, []byte("\n")) {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
			b.Write(l)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}
