//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgetrace/edgetrace/harness/cluster"
	"github.com/edgetrace/edgetrace/harness/gatekeeper"
	"github.com/edgetrace/edgetrace/harness/policy"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilversion "k8s.io/apimachinery/pkg/util/version"
	"k8s.io/client-go/kubernetes"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// GovernedLabel marks the namespaces the bundle's constraints select.
const GovernedLabel = "edgetrace.io/governed"

// env is the governed cluster shared by every test in the package: bringing
// one up takes tens of seconds, so it is done once in TestMain.
var env struct {
	root        string
	dir         string
	artifacts   string
	kubeVersion string
	gkVersion   string
	provider    string
	bundle      []*unstructured.Unstructured
	governed    *gatekeeper.Governed
	gk          *gatekeeper.Gatekeeper
	kube        *kubernetes.Clientset
	client      *gatekeeper.Client
}

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) (code int) {
	ctrllog.SetLogger(logr.Discard()) // envtest's logger; our progress goes to stderr
	_, file, _, _ := runtime.Caller(0)
	env.root = filepath.Dir(filepath.Dir(file))
	env.kubeVersion = envOr("KUBE_VERSION", cluster.DefaultKubeVersion)
	env.gkVersion = envOr("GATEKEEPER_VERSION", gatekeeper.DefaultVersion)
	env.provider = envOr("E2E_PROVIDER", "local")
	env.artifacts = envOr("E2E_ARTIFACTS", filepath.Join(env.root, ".harness", "e2e", env.kubeVersion+"-"+env.gkVersion))
	if err := os.MkdirAll(env.artifacts, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 2
	}
	reapStale()
	// A state directory of our own, so that a developer's `harness up`
	// cluster is neither reused nor torn down by the tests.
	dir, err := os.MkdirTemp("", "edgetrace-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 2
	}
	env.dir = dir
	// Held until this process exits, however it exits: a run that dies
	// without its deferred teardown (a panic in a test, SIGKILL) leaves an
	// unlocked directory that the next run reaps.
	lock, err := os.Create(filepath.Join(dir, "lock"))
	if err == nil {
		err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: lock:", err)
		return 2
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Once: after a signal, the signal handler and run's return path may
	// both get here, and a second Down would be refused the first one's lock.
	teardown := sync.OnceValue(func() error { return tearDown(dir) })
	defer func() {
		if err := teardown(); err != nil && code != exitInterrupted {
			code = 2
		}
	}()
	// An interrupted run (Ctrl-C, CI timeout) still stops what it started.
	var phase atomic.Int32
	setUpDone := make(chan struct{})
	stopOnSignal(cancel, &phase, setUpDone, teardown, dir)

	err = setUp(ctx)
	close(setUpDone)
	if !phase.CompareAndSwap(settingUp, testsRunning) {
		fmt.Fprintln(os.Stderr, "e2e: interrupted during set-up")
		return exitInterrupted
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: set up:", err)
		return 2
	}
	return m.Run()
}

// The phases of run, which decide who tears down after a signal.
const (
	settingUp int32 = iota
	testsRunning
	interrupted
)

// exitInterrupted is the shell's code for a process ended by SIGINT.
const exitInterrupted = 130

// setUpGrace bounds how long an interrupted set-up may take to give up:
// every step watches ctx, so it takes moments unless one hangs.
const setUpGrace = time.Minute

// stopOnSignal cancels ctx on SIGINT or SIGTERM and has the cluster torn
// down. During set-up, Up holds the state directory's lock and Down would be
// refused it, so the signal only moves phase to interrupted, and run tears
// down on its way out, once set-up has given up and let go of the lock. The
// tests do not watch ctx: once they run, the handler tears down and exits
// itself. If set-up hangs, the run exits without tearing down, leaving the
// state directory (unlocked once this process is gone) to hack/e2e.sh's reap
// or the next run's reapStale.
func stopOnSignal(cancel context.CancelFunc, phase *atomic.Int32, setUpDone <-chan struct{}, teardown func() error, dir string) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		signal.Stop(sigs) // a second Ctrl-C ends the run at once, teardown or not
		cancel()
		if !phase.CompareAndSwap(settingUp, interrupted) {
			_ = teardown()
			os.Exit(exitInterrupted)
		}
		select {
		case <-setUpDone:
		case <-time.After(setUpGrace):
			fmt.Fprintf(os.Stderr, "e2e: set-up still running %s after the signal; leaving its cluster in %s to be reaped\n", setUpGrace, dir)
			os.Exit(exitInterrupted)
		}
	}()
}

// tearDown collects the logs and removes the cluster and dir. If Down fails,
// dir stays: the processes it could not stop are found through it, by
// hack/e2e.sh's reap and the next run's reapStale.
func tearDown(dir string) error {
	// Logs first: they are what explains a failure, and Down removes the
	// cluster they come from.
	if env.governed != nil {
		_ = env.governed.Cluster.CollectLogs(context.Background(), filepath.Join(env.artifacts, "logs"))
	}
	_ = copyLogs(filepath.Join(dir, "logs"), filepath.Join(env.artifacts, "logs"))
	if err := gatekeeper.Down(context.Background(), dir, env.root, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: teardown: %v\ne2e: keeping %s to be reaped (or: go run ./harness/cmd/harness down --dir %s)\n", err, dir, dir)
		return err
	}
	_ = os.RemoveAll(dir)
	return nil
}

// reapStale tears down clusters of earlier runs that died without cleaning
// up; a directory whose lock is still held belongs to a run in progress.
func reapStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "edgetrace-e2e-*"))
	for _, d := range dirs {
		f, err := os.Open(filepath.Join(d, "lock"))
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			f.Close()
			continue
		}
		fmt.Fprintln(os.Stderr, "e2e: reaping", d, "left by a run that died")
		if err := gatekeeper.Down(context.Background(), d, env.root, os.Stderr); err == nil {
			_ = os.RemoveAll(d)
		}
		f.Close()
	}
}

func setUp(ctx context.Context) error {
	start := time.Now()
	bundleDir := envOr("E2E_BUNDLE", filepath.Join(env.root, "deploy", "gatekeeper"))
	bundle, err := policy.LoadObjects(bundleDir)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	env.bundle = bundle
	g, err := gatekeeper.Up(ctx, gatekeeper.UpOptions{
		Provider:    env.provider,
		KubeVersion: env.kubeVersion,
		NodeImages:  kindNodeImages(),
		Version:     env.gkVersion,
		// The mutating webhook is registered from the start; mutators are
		// applied only by the mutation test, so every other test sees the
		// bundle exactly as operators apply it without the overlay.
		Mutation: true,
		// TestAudit waits for an audit pass; a benchmark run (make bench
		// sets E2E_BENCH) keeps Gatekeeper's 60 s, as in production, so
		// that audit passes do not compete with the requests measured.
		AuditInterval: auditInterval(),
		Dir:           env.dir,
		Root:          env.root,
		Bundle:        bundle,
		Log:           os.Stderr,
	})
	if g != nil {
		env.governed = g
	}
	if err != nil {
		return err
	}
	env.gk = g.Gatekeeper
	env.client = g.Gatekeeper.Client
	cfg, err := cluster.RESTConfig(g.Cluster)
	if err != nil {
		return err
	}
	if env.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	// K3s ships RuntimeClasses wasmedge, crun, runc, …; the API server
	// rejects a pod naming a RuntimeClass that does not exist before any
	// policy sees it, so the cluster gets the same ones and a wrong choice is
	// judged by the bundle, not by that check.
	for _, name := range []string{"wasmedge", "crun", "runc"} {
		rc := &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Handler: name}
		if _, err := env.kube.NodeV1().RuntimeClasses().Create(ctx, rc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("runtime class: %w", err)
		}
	}
	fmt.Fprintf(os.Stderr, "e2e: governed cluster (Kubernetes %s, Gatekeeper %s, %s) up in %s\n",
		env.kubeVersion, env.gkVersion, env.provider, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// kindNodeImages are the node images pinned for kind runs, one per tested
// version (KIND_NODE_IMAGES); the local provider runs binaries instead.
func kindNodeImages() []string {
	if env.provider != "kind" {
		return nil
	}
	return strings.Fields(os.Getenv("KIND_NODE_IMAGES"))
}

func auditInterval() time.Duration {
	if os.Getenv("E2E_BENCH") != "" {
		return 0
	}
	return 5 * time.Second
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func copyLogs(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err == nil {
			_ = os.WriteFile(filepath.Join(dst, e.Name()), raw, 0o644)
		}
	}
	return nil
}

// namespace creates a namespace for one test, governed or not. Namespaces
// are not deleted: without a controller-manager none would finish
// terminating, and the cluster goes away with the run.
func namespace(t testing.TB, prefix string, labels map[string]string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-", Labels: labels}}
	got, err := env.kube.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return got.Name
}

func governed() map[string]string { return map[string]string{GovernedLabel: "true"} }

// create really creates o (no dry run: an object the bundle over-blocks fails
// the test) and returns the API server's error, if any.
func create(ctx context.Context, o *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	r, err := env.client.Resource(o)
	if err != nil {
		return nil, err
	}
	// Strict: an API server that does not know a field refuses the object instead of
	// dropping the field, so an evasion through a newer field (an image volume on 1.30)
	// is reported as refused before admission rather than created without it.
	return r.Create(ctx, o.DeepCopy(), metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
}

// denial returns the admission message of err, or "" if err is not an
// admission denial (by a webhook or a ValidatingAdmissionPolicy).
func denial(err error) string {
	if err == nil {
		return ""
	}
	var status apierrors.APIStatus
	msg := err.Error()
	if errors.As(err, &status) {
		msg = status.Status().Message
	}
	if strings.Contains(msg, "denied the request") || strings.Contains(msg, "denied request") {
		return msg
	}
	return ""
}

// rejectedBeforeAdmission reports a refusal by the API server itself —
// decoding, validation, or a built-in admission plugin such as RuntimeClass —
// rather than by a policy. Such an object is not admitted, but the policy was
// not exercised; callers log it. Server errors (a webhook that failed or timed
// out) are not refusals. A refusal for a reason not in earlyRefusals fails
// the test: a disallowed sample with a misspelt field is refused by strict
// field validation and would otherwise pass without a policy judging it.
func rejectedBeforeAdmission(t testing.TB, err error) bool {
	t.Helper()
	if denial(err) != "" || !(apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || apierrors.IsForbidden(err)) {
		return false
	}
	minor := utilversion.MustParseGeneric(env.kubeVersion).Minor()
	for _, r := range earlyRefusals {
		if r.pattern.MatchString(err.Error()) && (r.beforeMinor == 0 || minor < r.beforeMinor) {
			return true
		}
	}
	t.Errorf("refused by the API server before admission, for a reason the samples and corpora are not known to meet: %v", err)
	return true
}

// earlyRefusals are the reasons the API server refuses objects of the
// samples and corpora before any policy sees them: what its own validation
// and RuntimeClass admission catch, which the in-process checks judge too.
// beforeMinor, if set, limits a reason to Kubernetes versions below it.
var earlyRefusals = []struct {
	pattern     *regexp.Regexp
	beforeMinor uint
}{
	{pattern: regexp.MustCompile(`must be less than or equal to (cpu|memory) limit`)},
	{pattern: regexp.MustCompile(`quantities must match the regular expression`)},
	{pattern: regexp.MustCompile("cannot set `allowPrivilegeEscalation` to false and `privileged` to true")},
	{pattern: regexp.MustCompile(`pod rejected: RuntimeClass ".*" not found`)},
	{pattern: regexp.MustCompile(`pod updates may not change fields`)},
	{pattern: regexp.MustCompile(`spec\.selector: Required value`)}, // a workload without labels
	// Image volumes arrived in Kubernetes 1.31.
	{pattern: regexp.MustCompile(`strict decoding error: unknown field "spec(\.template\.spec)?\.volumes\[\d+\]\.image"`), beforeMinor: 31},
}

// requireFiles fails (never skips: CI must notice) when a part of the
// repository the test exercises is missing.
func requireFiles(t testing.TB, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(env.root, pattern))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no files match %s", pattern)
	}
	return files
}
