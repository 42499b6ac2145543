package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/edgetrace/edgetrace/harness/cluster/proc"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// EtcdVersion is the etcd built for the local control plane.
const EtcdVersion = "v3.6.16"

// Local is a control plane of etcd and kube-apiserver processes on this host,
// started through envtest with binaries from hack/tools.
//
// A node (containerd + kubelet, scheduler and controller-manager) belongs to
// the same provider: its processes are further proc.Handles in the state, its
// logs further files in logs/, and LoadImage imports into its containerd. Until
// then LoadImage reports ErrNoNodes.
type Local struct {
	opts Options
}

var _ Provider = (*Local)(nil)

func (l *Local) Name() string       { return "local" }
func (l *Local) Kubeconfig() string { return filepath.Join(l.opts.Dir, "kubeconfig") }
func (l *Local) logDir() string     { return filepath.Join(l.opts.Dir, "logs") }

// dataDir holds everything of the running control plane that Delete removes;
// its path is the marker that identifies the control plane's processes.
func (l *Local) dataDir() string { return filepath.Join(l.opts.Dir, "local") }

func (l *Local) Create(ctx context.Context) error {
	if ok, err := l.reuse(ctx); err != nil || ok {
		return err
	}
	// The binaries first: a version that cannot be had must not take down
	// the cluster that runs.
	apiserver, err := l.opts.Tools.Path(ctx, "kube-apiserver", l.opts.KubeVersion)
	if err != nil {
		return fmt.Errorf("local cluster: %w", err)
	}
	etcd, err := l.opts.Tools.Path(ctx, "etcd", EtcdVersion)
	if err != nil {
		return fmt.Errorf("local cluster: %w", err)
	}
	// Whatever a crashed run left behind (processes, half-written state) goes
	// next, so every Create starts from the same place.
	if err := l.Delete(ctx); err != nil {
		return err
	}
	etcdDir := filepath.Join(l.dataDir(), "etcd")
	certDir := filepath.Join(l.dataDir(), "apiserver")
	for _, d := range []string{etcdDir, certDir, l.logDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("local cluster: %w", err)
		}
	}
	etcdLog, err := openLog(filepath.Join(l.logDir(), "etcd.log"))
	if err != nil {
		return fmt.Errorf("local cluster: %w", err)
	}
	defer etcdLog.Close()
	apiLog, err := openLog(filepath.Join(l.logDir(), "kube-apiserver.log"))
	if err != nil {
		return fmt.Errorf("local cluster: %w", err)
	}
	defer apiLog.Close()

	// Record the intent before starting anything: if we crash between here and
	// the final writeState, Delete still knows the markers to look for.
	if err := writeState(l.opts.Dir, &state{Provider: l.Name(), KubeVersion: l.opts.KubeVersion}); err != nil {
		return err
	}

	fmt.Fprintf(l.opts.Log, "local: starting etcd %s and kube-apiserver %s\n", EtcdVersion, l.opts.KubeVersion)
	start := time.Now()
	env := &envtest.Environment{
		ControlPlane: envtest.ControlPlane{
			// Log files, not pipes: the processes outlive this one, and a pipe
			// whose reader has gone would kill them on their next write.
			Etcd:      &envtest.Etcd{Path: etcd, DataDir: etcdDir, Out: etcdLog, Err: etcdLog},
			APIServer: &envtest.APIServer{Path: apiserver, CertDir: certDir, Out: apiLog, Err: apiLog},
		},
		// 1.30's apiserver takes longer than envtest's 20 s default on a busy
		// two-core machine when it bootstraps its RBAC roles.
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	if _, err := env.Start(); err != nil {
		_ = env.WebhookInstallOptions.Cleanup()
		_ = l.Delete(ctx)
		return fmt.Errorf("local cluster: start control plane: %w", err)
	}
	// envtest prepares serving certificates for test webhooks in a temporary
	// directory that only its Stop removes; we never call Stop (the processes
	// must outlive us), so remove it now — the harness registers no such webhooks.
	_ = env.WebhookInstallOptions.Cleanup()

	s := &state{Provider: l.Name(), KubeVersion: l.opts.KubeVersion}
	// envtest does not expose its children's PIDs; they are the processes
	// whose command lines name our data and cert directories.
	for _, c := range []struct{ name, marker string }{{"etcd", etcdDir}, {"kube-apiserver", certDir}} {
		pids, err := proc.FindByMarker(c.marker)
		if err != nil {
			_ = l.Delete(ctx)
			return fmt.Errorf("local cluster: %w", err)
		}
		if len(pids) != 1 {
			_ = l.Delete(ctx)
			return fmt.Errorf("local cluster: found %d %s processes, want 1", len(pids), c.name)
		}
		s.Processes = append(s.Processes, proc.Handle{Name: c.name, PID: pids[0], Marker: c.marker})
	}

	user, err := env.AddUser(envtest.User{Name: "harness-admin", Groups: []string{"system:masters"}}, nil)
	if err == nil {
		var kubeconfig []byte
		if kubeconfig, err = user.KubeConfig(); err == nil {
			err = os.WriteFile(l.Kubeconfig(), kubeconfig, 0o600)
		}
	}
	if err == nil {
		err = writeState(l.opts.Dir, s)
	}
	if err != nil {
		_ = l.Delete(ctx)
		return fmt.Errorf("local cluster: %w", err)
	}
	fmt.Fprintf(l.opts.Log, "local: control plane ready in %s\n", time.Since(start).Round(10*time.Millisecond))
	return nil
}

// reuse reports whether a healthy cluster of the requested version is already
// running; a recorded cluster of another version is an error rather than a
// silent replacement.
func (l *Local) reuse(ctx context.Context) (bool, error) {
	s, err := readState(l.opts.Dir)
	if err != nil || s == nil || s.Provider != l.Name() || len(s.Processes) == 0 {
		return false, nil // an unreadable state too: Create starts afresh
	}
	for _, h := range s.Processes {
		if !h.Alive() {
			return false, nil
		}
	}
	if err := l.healthy(ctx); err != nil {
		return false, nil
	}
	if s.KubeVersion != l.opts.KubeVersion {
		return false, fmt.Errorf("local cluster: running with Kubernetes %s, asked for %s: run `harness down` first", s.KubeVersion, l.opts.KubeVersion)
	}
	fmt.Fprintf(l.opts.Log, "local: reusing running control plane (%s)\n", s.KubeVersion)
	return true, nil
}

func (l *Local) healthy(ctx context.Context) error {
	cfg, err := RESTConfig(l)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("readyz: %w: %s", err, body)
	}
	return nil
}

// Processes returns the control plane's processes on this host (etcd and
// kube-apiserver) as recorded at Create, for measurements such as the CPU
// each request costs them.
func (l *Local) Processes() ([]proc.Handle, error) {
	s, err := readState(l.opts.Dir)
	if err != nil {
		return nil, err
	}
	if s == nil || s.Provider != l.Name() {
		return nil, fmt.Errorf("local cluster: no state in %s", l.opts.Dir)
	}
	return s.Processes, nil
}

func (l *Local) LoadImage(ctx context.Context, archive string) error {
	return fmt.Errorf("local cluster: load image %s: %w", archive, ErrNoNodes)
}

func (l *Local) CollectLogs(ctx context.Context, dir string) error {
	return copyDir(l.logDir(), dir)
}

// Delete stops the recorded processes and any others that still name the
// data directory (started by a run that crashed before recording them), then
// removes the data directory, kubeconfig and state. Logs stay for post-mortems.
func (l *Local) Delete(ctx context.Context) error {
	// An unreadable state must not make the cluster undeletable: every
	// process it would list names the data directory and is found below.
	s, _ := readState(l.opts.Dir)
	var errs []error
	if s != nil {
		// Last started, first stopped: an API server whose etcd is gone
		// waits out its whole grace period.
		for _, h := range slices.Backward(s.Processes) {
			errs = append(errs, h.Stop(15*time.Second))
		}
	}
	leftovers, err := proc.FindByMarker(l.dataDir())
	errs = append(errs, err)
	for _, pid := range leftovers {
		errs = append(errs, proc.Handle{Name: "leftover", PID: pid, Marker: l.dataDir()}.Stop(15*time.Second))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("local cluster: delete: %w", err)
	}
	for _, p := range []string{l.dataDir(), l.Kubeconfig(), filepath.Join(l.opts.Dir, stateFile)} {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("local cluster: delete: %w", err)
		}
	}
	return nil
}

func openLog(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
}

func copyDir(src, dst string) error {
	entries, err := os.ReadDir(src)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("collect logs: %w", err)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("collect logs: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		if err := copyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return fmt.Errorf("collect logs: %w", err)
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
