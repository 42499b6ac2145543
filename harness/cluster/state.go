package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/edgetrace/edgetrace/harness/cluster/proc"
)

// state is what a provider records in its directory so that a later command
// (`harness down`, or `up` after a crash) can find what is running.
type state struct {
	Provider    string        `json:"provider"`
	KubeVersion string        `json:"kubeVersion"`
	Processes   []proc.Handle `json:"processes,omitempty"`
	// NodeImage is the image of a kind cluster's nodes.
	NodeImage string `json:"nodeImage,omitempty"`
	// Complete marks a kind cluster whose creation finished.
	Complete bool `json:"complete,omitempty"`
}

const stateFile = "cluster.json"

// readState returns the recorded state, or nil when none is recorded.
func readState(dir string) (*state, error) {
	raw, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read cluster state: %w", err)
	}
	var s state
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("read cluster state %s: %w", filepath.Join(dir, stateFile), err)
	}
	return &s, nil
}

// writeState replaces the state file atomically, so a crash mid-write never
// leaves a file that the next run cannot parse.
func writeState(dir string, s *state) error {
	raw, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("write cluster state: %w", err)
	}
	tmp := filepath.Join(dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, raw, 0o644); err != nil {
		return fmt.Errorf("write cluster state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, stateFile)); err != nil {
		return fmt.Errorf("write cluster state: %w", err)
	}
	return nil
}

// CurrentProvider reports which provider's cluster is recorded in dir ("" if
// none), so `harness down` needs no flags.
func CurrentProvider(dir string) (string, error) {
	s, err := readState(dir)
	if err != nil || s == nil {
		return "", err
	}
	return s.Provider, nil
}
