package cluster

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// Tools finds the pinned binaries that hack/tools.sh builds into bin/,
// building any that are missing (a warm call costs one stat per binary).
type Tools struct {
	// Root is the repository root, where hack/tools.sh lives.
	Root string
}

// Path returns the path of tool at version, building it first if needed.
func (t *Tools) Path(ctx context.Context, tool, version string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(t.Root, "hack", "tools.sh"), tool, version)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("hack/tools.sh %s %s: %w\n%s", tool, version, err, tail(stderr.String(), 2000))
	}
	path := strings.TrimSpace(stdout.String())
	if i := strings.LastIndexByte(path, '\n'); i >= 0 {
		path = path[i+1:]
	}
	return path, nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
