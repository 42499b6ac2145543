package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadPathsFormats(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "multi.yaml", `# leading comment
apiVersion: v1
kind: Namespace
metadata:
  name: a
---
---
# only a comment
---
apiVersion: v1
kind: Pod
metadata:
  name: p
  namespace: a
`)
	writeFile(t, dir, "sub/obj.json", `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "a"}}`)
	writeFile(t, dir, "sub/list.yml", `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: s1, namespace: a}
- apiVersion: v1
  kind: Service
  metadata: {name: s2, namespace: a}
`)
	writeFile(t, dir, "ignored.txt", "not a manifest")

	got, err := ReadPaths([]string{dir, "-"}, strings.NewReader("apiVersion: v1\nkind: Secret\nmetadata: {name: x}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, in := range got {
		names = append(names, in.Object.GetKind()+"/"+in.Object.GetName()+"@"+filepath.Base(in.File))
	}
	want := "Namespace/a@multi.yaml Pod/p@multi.yaml Service/s1@list.yml Service/s2@list.yml ConfigMap/c@obj.json Secret/x@-"
	if strings.Join(names, " ") != want {
		t.Errorf("got  %s\nwant %s", strings.Join(names, " "), want)
	}
	if got[1].Line != 10 {
		t.Errorf("Pod starts at line %d, want 10", got[1].Line)
	}
}

func TestReadPathsErrorsNameFileAndLine(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content, want string
	}{
		{"bad.yaml", "apiVersion: v1\nkind: Pod\n---\napiVersion: v1\nkind: [unclosed\n", "bad.yaml:4: yaml: line 5: did not find expected"},
		{"nokind.yaml", "apiVersion: v1\nmetadata: {name: x}\n", "nokind.yaml:1: object has no kind"},
		{"noversion.yaml", "kind: Pod\n", "noversion.yaml:1: object has no apiVersion"},
		{"scalar.yaml", "just a string\n", "scalar.yaml:1: not a Kubernetes object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, dir, tc.name, tc.content)
			_, err := ReadPaths([]string{p}, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want error containing %q", err, tc.want)
			}
		})
	}
	if _, err := ReadPaths([]string{filepath.Join(dir, "missing.yaml")}, nil); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: got %v", err)
	}
	empty := t.TempDir()
	if _, err := ReadPaths([]string{empty}, nil); err == nil || !strings.Contains(err.Error(), "no .yaml") {
		t.Errorf("empty dir: got %v", err)
	}
}
