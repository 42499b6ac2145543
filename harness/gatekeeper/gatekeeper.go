package gatekeeper

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/edgetrace/edgetrace/harness/cluster"
	"github.com/edgetrace/edgetrace/harness/cluster/proc"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilversion "k8s.io/apimachinery/pkg/util/version"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
)

const (
	// DefaultVersion is the Gatekeeper release used when none is given.
	DefaultVersion = "v3.23.1"
	// Namespace is where Gatekeeper keeps its own objects.
	Namespace = "gatekeeper-system"
	// ValidatingWebhookName is the name Gatekeeper itself looks for when it
	// syncs ValidatingAdmissionPolicy scope with its webhook (3.20+).
	ValidatingWebhookName = "gatekeeper-validating-webhook-configuration"
	MutatingWebhookName   = "gatekeeper-mutating-webhook-configuration"
	// IgnoreLabel exempts a namespace from the webhooks, as in the chart.
	IgnoreLabel = "admission.gatekeeper.sh/ignore"
	podName     = "gatekeeper-local"
)

// Options configure an out-of-cluster Gatekeeper.
type Options struct {
	Version    string
	Dir        string // state directory; Gatekeeper's files go to Dir/gatekeeper
	Kubeconfig string
	Tools      *cluster.Tools
	// Mutation registers the mutating webhook as well.
	Mutation bool
	// AuditInterval is how often audit runs; 0 keeps Gatekeeper's default
	// (60 s). Tests that wait for audit shorten it; a latency measurement
	// should not, since every audit pass competes for the same cores.
	AuditInterval time.Duration
	// InCluster: Gatekeeper runs in the cluster from its release manifest
	// (kind), not as a process on this host.
	InCluster bool
	Log       io.Writer
}

// Gatekeeper is the cluster's admission webhook, audit and status
// controller: a process on this host, or (InCluster) the release manifest's
// Deployments.
type Gatekeeper struct {
	opts   Options
	cfg    *rest.Config
	kube   kubernetes.Interface
	Client *Client
}

// state is recorded in Dir/gatekeeper/state.json so that `harness down` and a
// restart of the webhook find the process and its ports.
type state struct {
	Version  string `json:"version"`
	Mutation bool   `json:"mutation"`
	// AuditInterval is what the process was started with (see
	// policyFlags); it reads the flag once, so another interval needs a
	// restart.
	AuditInterval time.Duration `json:"auditInterval,omitempty"`
	Port          int           `json:"port"`
	// HealthPort serves Gatekeeper's /readyz, which answers 200 only once
	// every template and constraint in the cluster is loaded into its engine.
	HealthPort int         `json:"healthPort,omitempty"`
	Process    proc.Handle `json:"process"`
	// Cluster identifies the control plane the process serves: the digest
	// of its kubeconfig, which a recreated cluster changes (new port and
	// certificates). A process loads the kubeconfig once, at start.
	Cluster string `json:"cluster,omitempty"`
}

// clusterID is the digest of the kubeconfig the process is started with.
func (g *Gatekeeper) clusterID() (string, error) {
	raw, err := os.ReadFile(g.opts.Kubeconfig)
	if err != nil {
		return "", fmt.Errorf("gatekeeper: %w", err)
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:]), nil
}

// New returns a handle on Gatekeeper for the cluster in opts.Kubeconfig.
func New(opts Options) (*Gatekeeper, error) {
	if opts.Version == "" {
		opts.Version = DefaultVersion
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("gatekeeper: %w", err)
	}
	opts.Dir = dir
	cfg, err := cluster.LoadKubeconfig(opts.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("gatekeeper: %w", err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("gatekeeper: %w", err)
	}
	c, err := NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("gatekeeper: %w", err)
	}
	return &Gatekeeper{opts: opts, cfg: cfg, kube: kube, Client: c}, nil
}

func (g *Gatekeeper) home() string      { return filepath.Join(g.opts.Dir, "gatekeeper") }
func (g *Gatekeeper) certDir() string   { return filepath.Join(g.home(), "certs") }
func (g *Gatekeeper) saDir() string     { return filepath.Join(g.home(), "serviceaccount") }
func (g *Gatekeeper) stateFile() string { return filepath.Join(g.home(), "state.json") }

// LogPath is where the Gatekeeper process writes its log.
func (g *Gatekeeper) LogPath() string { return filepath.Join(g.opts.Dir, "logs", "gatekeeper.log") }

func (g *Gatekeeper) readState() (*state, error) {
	raw, err := os.ReadFile(g.stateFile())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("gatekeeper state: %w", err)
	}
	var s state
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("gatekeeper state: %w", err)
	}
	return &s, nil
}

func (g *Gatekeeper) writeState(s *state) error {
	raw, _ := json.MarshalIndent(s, "", "  ")
	tmp := g.stateFile() + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o644); err != nil {
		return fmt.Errorf("gatekeeper state: %w", err)
	}
	if err := os.Rename(tmp, g.stateFile()); err != nil {
		return fmt.Errorf("gatekeeper state: %w", err)
	}
	return nil
}

// Process returns the webhook process on this host; ok is false when
// Gatekeeper runs in the cluster instead.
func (g *Gatekeeper) Process() (h proc.Handle, ok bool, err error) {
	if g.opts.InCluster {
		return proc.Handle{}, false, nil
	}
	s, err := g.readState()
	if err != nil {
		return proc.Handle{}, false, err
	}
	if s == nil {
		return proc.Handle{}, false, fmt.Errorf("gatekeeper: no state in %s", g.home())
	}
	return s.Process, true, nil
}

// Install makes Gatekeeper serve admission for the cluster: CRDs and
// namespace, certificates, the webhook process, and webhook configurations
// with failurePolicy Fail. A running install of the same version and flags is
// reused; anything else a crashed run left is removed first.
func (g *Gatekeeper) Install(ctx context.Context) error {
	id, err := g.clusterID()
	if err != nil {
		return err
	}
	if reused, err := g.reuse(ctx, id); err != nil || reused {
		return err
	}
	// What the new install needs comes first: a version that cannot be
	// installed must not take down the one that runs.
	start := time.Now()
	bin, err := g.opts.Tools.Path(ctx, "gatekeeper", g.opts.Version)
	if err != nil {
		return fmt.Errorf("gatekeeper: %w", err)
	}
	manifest, err := ReleaseManifest(ctx, g.opts.Version)
	if err != nil {
		return fmt.Errorf("gatekeeper: %w", err)
	}
	if err := g.Uninstall(ctx); err != nil {
		return err
	}
	for _, o := range OutOfClusterObjects(manifest) {
		if _, err := g.Client.Apply(ctx, o, 30*time.Second); err != nil {
			return fmt.Errorf("gatekeeper: %w", err)
		}
		if o.GetKind() == "CustomResourceDefinition" {
			if err := g.waitEstablished(ctx, o.GetName()); err != nil {
				return err
			}
		}
	}
	if err := os.MkdirAll(g.home(), 0o755); err != nil {
		return fmt.Errorf("gatekeeper: %w", err)
	}
	caPEM, err := writeCerts(g.certDir(), time.Now())
	if err != nil {
		return fmt.Errorf("gatekeeper: %w", err)
	}
	if err := g.writeServiceAccount(ctx); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return fmt.Errorf("gatekeeper: %w", err)
	}
	s := &state{Version: g.opts.Version, Mutation: g.opts.Mutation, Port: port, Cluster: id}
	if err := g.writeState(s); err != nil {
		return err
	}
	if err := g.startProcess(bin, s); err != nil {
		return err
	}
	if err := g.writeState(s); err != nil {
		return err
	}
	if err := g.waitServing(ctx, s, 2*time.Minute); err != nil {
		return fmt.Errorf("gatekeeper: %w (log: %s)", err, g.LogPath())
	}
	if err := g.applyWebhooks(ctx, caPEM, port, admissionv1.Fail); err != nil {
		return err
	}
	fmt.Fprintf(g.opts.Log, "gatekeeper: %s serving on 127.0.0.1:%d after %s\n", g.opts.Version, port, time.Since(start).Round(10*time.Millisecond))
	return nil
}

// reuse makes a running process that Install would start the same way again
// serve admission, and reports whether there was one. A healthy process
// judges nothing unless the webhook configurations send it requests, and
// they may be missing or stale: an Install killed while waiting for the
// process to serve never wrote them, and anyone may have deleted or edited
// them since. So they are applied here too, as Install would.
func (g *Gatekeeper) reuse(ctx context.Context, cluster string) (bool, error) {
	s, err := g.readState()
	if err != nil || s == nil || !g.sameProcess(s, cluster) {
		return false, nil // an unreadable state too: the reinstall clears it
	}
	if err := g.waitServing(ctx, s, 30*time.Second); err != nil {
		return false, nil // a reinstall replaces it
	}
	caPEM, err := os.ReadFile(filepath.Join(g.certDir(), "ca.crt"))
	if err != nil {
		return false, fmt.Errorf("gatekeeper: webhook certs: %w", err)
	}
	if err := g.applyWebhooks(ctx, caPEM, s.Port, admissionv1.Fail); err != nil {
		return false, err
	}
	fmt.Fprintf(g.opts.Log, "gatekeeper: reusing running %s\n", s.Version)
	return true, nil
}

// sameProcess reports whether the process s records is alive and runs as g
// would start it for cluster: everything compared is read once, at start.
func (g *Gatekeeper) sameProcess(s *state, cluster string) bool {
	return s.Process.Alive() && s.Version == g.opts.Version && s.Mutation == g.opts.Mutation &&
		s.AuditInterval == g.opts.AuditInterval && s.Cluster == cluster
}

func (g *Gatekeeper) waitEstablished(ctx context.Context, name string) error {
	crd := &unstructured.Unstructured{}
	crd.SetAPIVersion("apiextensions.k8s.io/v1")
	crd.SetKind("CustomResourceDefinition")
	crd.SetName(name)
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		live, err := g.Client.Get(ctx, crd)
		if err != nil {
			return false, nil
		}
		conds, _, _ := unstructured.NestedSlice(live.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Established" && m["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("gatekeeper: CRD %s not established: %w", name, err)
	}
	return nil
}

// writeServiceAccount gives the process the files of an in-cluster service
// account. Gatekeeper before 3.19 detects the ValidatingAdmissionPolicy API
// through rest.InClusterConfig only, so without them it never generates the
// policies that keep enforcing when the webhook is down.
func (g *Gatekeeper) writeServiceAccount(ctx context.Context) error {
	const sa = "gatekeeper-admin"
	_, err := g.kube.CoreV1().ServiceAccounts(Namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("gatekeeper: service account: %w", err)
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "edgetrace-harness-gatekeeper-admin"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: Namespace}},
	}
	if _, err := g.kube.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("gatekeeper: service account binding: %w", err)
	}
	exp := int64(7 * 24 * 3600)
	tok, err := g.kube.CoreV1().ServiceAccounts(Namespace).CreateToken(ctx, sa, &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("gatekeeper: service account token: %w", err)
	}
	if err := os.MkdirAll(g.saDir(), 0o700); err != nil {
		return fmt.Errorf("gatekeeper: %w", err)
	}
	files := map[string][]byte{"token": []byte(tok.Status.Token), "ca.crt": g.cfg.CAData, "namespace": []byte(Namespace)}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(g.saDir(), name), data, 0o600); err != nil {
			return fmt.Errorf("gatekeeper: %w", err)
		}
	}
	return nil
}

// inClusterShim mounts the service-account files where client-go's
// InClusterConfig reads them, inside a private mount namespace so that the
// host's /run is untouched and the mount disappears with the process. The
// last word is exec, so the recorded PID is Gatekeeper's own.
const inClusterShim = `set -e
mount -t tmpfs -o mode=0755 harness-run /run
mkdir -p /run/secrets/kubernetes.io/serviceaccount
cp "$0"/token "$0"/ca.crt "$0"/namespace /run/secrets/kubernetes.io/serviceaccount/
exec "$@"`

// startProcess starts Gatekeeper serving its webhook on s.Port and records
// in s the process, its health port and the audit interval its flags set.
func (g *Gatekeeper) startProcess(bin string, s *state) error {
	if err := os.MkdirAll(filepath.Join(g.home(), "audit"), 0o755); err != nil {
		return fmt.Errorf("gatekeeper: %w", err)
	}
	ports := make([]int, 3)
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return fmt.Errorf("gatekeeper: %w", err)
		}
		ports[i] = p
	}
	port := s.Port
	args := []string{
		"--kubeconfig=" + g.opts.Kubeconfig,
		"--cert-dir=" + g.certDir(), // also the process's marker
		"--disable-cert-rotation",
		"--host=127.0.0.1", // the API server is on this machine; nothing else should reach the webhook
		"--port=" + strconv.Itoa(port),
		"--debug-use-fake-pod",
		"--health-addr=127.0.0.1:" + strconv.Itoa(ports[0]),
		"--metrics-addr=127.0.0.1:" + strconv.Itoa(ports[1]),
		"--prometheus-port=" + strconv.Itoa(ports[2]),
		// Audit caches listed objects in our directory (in a pod, an
		// emptyDir at /tmp/audit that audit fails without).
		"--api-cache-dir=" + filepath.Join(g.home(), "audit"),
		// No --operation: every operation this version has (webhook, audit,
		// status, mutation and, from 3.20, generate) runs in this process.
	}
	args = append(args, g.policyFlags()...)
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		shimArgs := append([]string{"-c", inClusterShim, g.saDir(), bin}, args...)
		cmd = exec.Command("sh", shimArgs...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	} else {
		fmt.Fprintf(g.opts.Log, "gatekeeper: not root, so no in-cluster service account; versions before 3.19 will not generate ValidatingAdmissionPolicies\n")
		cmd = exec.Command(bin, args...)
	}
	host, port2, _ := net.SplitHostPort(hostPort(g.cfg.Host))
	cmd.Env = append(os.Environ(),
		"POD_NAME="+podName, "POD_NAMESPACE="+Namespace, "NAMESPACE="+Namespace, "CONTAINER_NAME=manager",
		"KUBERNETES_SERVICE_HOST="+host, "KUBERNETES_SERVICE_PORT="+port2,
	)
	h, err := proc.Start("gatekeeper", cmd, g.LogPath(), g.certDir())
	if err != nil {
		return fmt.Errorf("gatekeeper: %w", err)
	}
	s.Process, s.HealthPort, s.AuditInterval = h, ports[0], g.opts.AuditInterval
	return nil
}

// hostPort is the host:port of the API server URL in a rest.Config.
func hostPort(rawURL string) string {
	u, err := neturl.Parse(rawURL)
	if err != nil || u.Host == "" {
		return rawURL
	}
	return u.Host
}

// waitServing waits until the webhook of the process s records answers TLS
// on 127.0.0.1 with a certificate our CA signed and, where the health port is
// known, until Gatekeeper reports itself ready: a restarted process serves
// before it has loaded the constraints, and until then admits everything.
func (g *Gatekeeper) waitServing(ctx context.Context, s *state, timeout time.Duration) error {
	caPEM, err := os.ReadFile(filepath.Join(g.certDir(), "ca.crt"))
	if err != nil {
		return fmt.Errorf("webhook certs: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	urls := []string{fmt.Sprintf("https://127.0.0.1:%d/v1/admitlabel", s.Port)}
	if s.HealthPort != 0 {
		urls = append(urls, fmt.Sprintf("http://127.0.0.1:%d/readyz", s.HealthPort))
	}
	var last error
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if s.Process.PID != 0 && !s.Process.Alive() {
			return false, errors.New("gatekeeper process exited")
		}
		for _, url := range urls {
			resp, err := c.Get(url)
			if err != nil {
				last = err
				return false, nil
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				last = fmt.Errorf("%s: %s", url, resp.Status)
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("webhook not serving: %w (last: %v)", err, last)
	}
	return nil
}

// applyWebhooks points the API server at the local process. The rules are
// the chart's — every resource on CREATE and UPDATE, plus the
// pods/ephemeralcontainers subresource that `kubectl debug` writes through —
// and pods/resize, through which an in-place resize (Kubernetes 1.33+)
// changes a running pod's resources without touching the pod resource itself.
func (g *Gatekeeper) applyWebhooks(ctx context.Context, caPEM []byte, port int, policy admissionv1.FailurePolicyType) error {
	none := admissionv1.SideEffectClassNone
	timeout := int32(3)
	ignored := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: IgnoreLabel, Operator: metav1.LabelSelectorOpDoesNotExist}}}
	rules := []admissionv1.RuleWithOperations{{
		Operations: []admissionv1.OperationType{admissionv1.Create, admissionv1.Update},
		Rule:       admissionv1.Rule{APIGroups: []string{"*"}, APIVersions: []string{"*"}, Resources: []string{"*", "pods/ephemeralcontainers", "pods/resize"}},
	}}
	url := fmt.Sprintf("https://127.0.0.1:%d/v1/admit", port)
	vwc := &admissionv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: ValidatingWebhookName},
		Webhooks: []admissionv1.ValidatingWebhook{{
			Name:                    "validation.gatekeeper.sh",
			ClientConfig:            admissionv1.WebhookClientConfig{URL: &url, CABundle: caPEM},
			Rules:                   rules,
			FailurePolicy:           &policy,
			SideEffects:             &none,
			TimeoutSeconds:          &timeout,
			AdmissionReviewVersions: []string{"v1", "v1beta1"},
			NamespaceSelector:       ignored,
		}},
	}
	// Update in place rather than delete and create: a moment without the
	// configuration would be a moment without admission control. (A
	// reinstall, after a crash or to change version or flags, does go
	// through that moment: Install removes the configuration before starting
	// the new process, because one left pointing at the dead process, with
	// failurePolicy Fail, would refuse Gatekeeper's own start-up writes of
	// cluster-scoped objects — CRDs and ValidatingAdmissionPolicies.)
	if err := g.applyValidating(ctx, vwc); err != nil {
		return fmt.Errorf("gatekeeper: webhook configuration: %w", err)
	}
	if !g.opts.Mutation {
		return nil
	}
	murl := fmt.Sprintf("https://127.0.0.1:%d/v1/mutate", port)
	reinvoke := admissionv1.IfNeededReinvocationPolicy
	mwc := &admissionv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: MutatingWebhookName},
		Webhooks: []admissionv1.MutatingWebhook{{
			Name:                    "mutation.gatekeeper.sh",
			ClientConfig:            admissionv1.WebhookClientConfig{URL: &murl, CABundle: caPEM},
			Rules:                   rules,
			FailurePolicy:           &policy,
			SideEffects:             &none,
			TimeoutSeconds:          &timeout,
			AdmissionReviewVersions: []string{"v1", "v1beta1"},
			NamespaceSelector:       ignored,
			ReinvocationPolicy:      &reinvoke,
		}},
	}
	if err := g.applyMutating(ctx, mwc); err != nil {
		return fmt.Errorf("gatekeeper: mutating webhook configuration: %w", err)
	}
	return nil
}

// configClient is what editConfig needs of client-go's typed client for
// a webhook configuration kind T.
type configClient[T any] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*T, error)
	Create(ctx context.Context, c *T, opts metav1.CreateOptions) (*T, error)
	Update(ctx context.Context, c *T, opts metav1.UpdateOptions) (*T, error)
}

// editConfig applies edit to the live configuration name and writes it
// back, changing nothing else (in-cluster, Gatekeeper's certificate rotator
// owns caBundle and may write it at the same moment, so a conflict is
// retried on a fresh read). A missing configuration is created as missing
// returns it, or, with missing nil, is NotFound.
func editConfig[T any](ctx context.Context, c configClient[T], name string, edit func(*T), missing func() *T) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		live, err := c.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && missing != nil {
			_, err = c.Create(ctx, missing(), metav1.CreateOptions{})
			return err
		}
		if err != nil {
			return err
		}
		edit(live)
		_, err = c.Update(ctx, live, metav1.UpdateOptions{})
		return err
	})
}

// applyValidating creates want or sets the live configuration's webhooks to
// want's. Only the webhooks: labels and annotations are others' to set.
func (g *Gatekeeper) applyValidating(ctx context.Context, want *admissionv1.ValidatingWebhookConfiguration) error {
	return editConfig(ctx, g.kube.AdmissionregistrationV1().ValidatingWebhookConfigurations(), want.Name,
		func(live *admissionv1.ValidatingWebhookConfiguration) { live.Webhooks = want.Webhooks },
		func() *admissionv1.ValidatingWebhookConfiguration { return want })
}

// applyMutating is applyValidating for the mutating configuration.
func (g *Gatekeeper) applyMutating(ctx context.Context, want *admissionv1.MutatingWebhookConfiguration) error {
	return editConfig(ctx, g.kube.AdmissionregistrationV1().MutatingWebhookConfigurations(), want.Name,
		func(live *admissionv1.MutatingWebhookConfiguration) { live.Webhooks = want.Webhooks },
		func() *admissionv1.MutatingWebhookConfiguration { return want })
}

// policyFlags are the flags that decide what Gatekeeper enforces and
// reports, the same for the local process and the kind manifest's pods.
func (g *Gatekeeper) policyFlags() []string {
	flags := []string{
		"--log-denies",
		// Generate ValidatingAdmissionPolicies and bindings from CEL
		// templates (default on from 3.22, off in 3.17); bindings only where
		// the version survives it (see GeneratesVAPBindings).
		"--default-create-vap-for-templates=true",
		"--default-create-vap-binding-for-constraints=" + strconv.FormatBool(GeneratesVAPBindings(g.opts.Version)),
	}
	if g.opts.AuditInterval > 0 {
		flags = append(flags, "--audit-interval="+strconv.Itoa(int(max(g.opts.AuditInterval.Seconds(), 1))))
	}
	return flags
}

// GeneratesVAPBindings reports whether the harness lets Gatekeeper version
// generate ValidatingAdmissionPolicyBindings for constraints. Before 3.18.2
// Gatekeeper panics converting a binding whose constraint has a
// namespaceSelector — as all of ours do — to admissionregistration/v1
// (gatekeeper#3753, fixed by #3754; read in the sources of 3.17.0, 3.17.1,
// 3.18.0 and 3.18.2), so on those versions Gatekeeper generates only the
// policies and ApplyBundle writes the bindings (see VAPBindings).
func GeneratesVAPBindings(version string) bool {
	v, err := utilversion.ParseSemantic(version)
	return err == nil && v.AtLeast(utilversion.MustParseSemantic("v3.18.2"))
}

// StopWebhook takes the validating and mutating webhooks down — kills the
// local process, or scales the in-cluster webhook Deployment to zero — with
// failurePolicy set to policy on their configurations. Ignore, the chart's
// default, fails open, so that what still denies requests is only what the
// API server enforces by itself (the ValidatingAdmissionPolicies Gatekeeper
// generated); Fail refuses everything the webhooks would have judged. It
// returns once the API server calls the webhooks under policy: it reads
// webhook configurations through an informer, so a request right after the
// update may still meet the old one.
func (g *Gatekeeper) StopWebhook(ctx context.Context, policy admissionv1.FailurePolicyType) error {
	// The policy first: in-cluster, pods take a while to exit, and under the
	// install's Fail the API server would meanwhile refuse whatever reaches
	// a pod that is shutting down.
	if err := g.setFailurePolicy(ctx, policy, policy); err != nil {
		return fmt.Errorf("gatekeeper: stop webhook: %w", err)
	}
	if g.opts.InCluster {
		if err := g.scaleWebhook(ctx, false); err != nil {
			return fmt.Errorf("gatekeeper: stop webhook: %w", err)
		}
	} else {
		s, err := g.readState()
		if err != nil || s == nil {
			return fmt.Errorf("gatekeeper: stop webhook: not installed (%v)", err)
		}
		if err := s.Process.Stop(15 * time.Second); err != nil {
			return fmt.Errorf("gatekeeper: stop webhook: %w", err)
		}
	}
	// With the webhooks gone a dry-run Namespace fails under Fail and
	// passes under Ignore.
	if err := g.probeWebhook(ctx, policy == admissionv1.Fail); err != nil {
		return fmt.Errorf("gatekeeper: stop webhook: the API server does not apply failurePolicy %s: %w", policy, err)
	}
	return nil
}

// StartWebhook brings stopped webhooks back — restarts the local process on
// its recorded port, or scales the in-cluster Deployment back to its replicas
// — and restores the failure policies Install set: Fail for validation, and
// for mutation Fail locally and the release manifest's Ignore in-cluster.
func (g *Gatekeeper) StartWebhook(ctx context.Context) error {
	mutating := admissionv1.Fail
	if g.opts.InCluster {
		// A kind cluster's own controllers bring the pods back, and under
		// Fail with no pod serving the API server would refuse their
		// writes (leases, endpoints): Ignore until the pods serve.
		if err := g.setFailurePolicy(ctx, admissionv1.Ignore, admissionv1.Ignore); err != nil {
			return fmt.Errorf("gatekeeper: start webhook: %w", err)
		}
		if err := g.scaleWebhook(ctx, true); err != nil {
			return fmt.Errorf("gatekeeper: start webhook: %w", err)
		}
		mutating = admissionv1.Ignore
	} else {
		s, err := g.readState()
		if err != nil || s == nil {
			return fmt.Errorf("gatekeeper: start webhook: not installed (%v)", err)
		}
		if !s.Process.Alive() {
			bin, err := g.opts.Tools.Path(ctx, "gatekeeper", s.Version)
			if err != nil {
				return fmt.Errorf("gatekeeper: %w", err)
			}
			if err := g.startProcess(bin, s); err != nil {
				return err
			}
			if err := g.writeState(s); err != nil {
				return err
			}
		}
		if err := g.waitServing(ctx, s, 2*time.Minute); err != nil {
			return fmt.Errorf("gatekeeper: %w", err)
		}
	}
	if err := g.setFailurePolicy(ctx, admissionv1.Fail, mutating); err != nil {
		return fmt.Errorf("gatekeeper: start webhook: %w", err)
	}
	// Ready pods may not be behind the webhook Service yet: wait until the
	// webhooks answer under Fail.
	if err := g.probeWebhook(ctx, false); err != nil {
		return fmt.Errorf("gatekeeper: start webhook: the webhooks do not answer: %w", err)
	}
	return nil
}

// probeWebhook waits until a dry-run Namespace create — judged by both
// webhooks, leaving nothing behind — is refused for want of a webhook
// (refused true) or is not (false).
func (g *Gatekeeper) probeWebhook(ctx context.Context, refused bool) error {
	probe := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "edgetrace-probe-"}}
	dryRun := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	var last error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, last = g.kube.CoreV1().Namespaces().Create(ctx, probe, dryRun)
		return (last != nil && strings.Contains(last.Error(), "failed calling webhook")) == refused, nil
	})
	if err != nil {
		return fmt.Errorf("%w (last probe: %v)", err, last)
	}
	return nil
}

// setFailurePolicy sets failurePolicy on every webhook of Gatekeeper's
// validating and (where registered) mutating configurations, changing
// nothing else.
func (g *Gatekeeper) setFailurePolicy(ctx context.Context, validating, mutating admissionv1.FailurePolicyType) error {
	reg := g.kube.AdmissionregistrationV1()
	err := editConfig(ctx, reg.ValidatingWebhookConfigurations(), ValidatingWebhookName, func(c *admissionv1.ValidatingWebhookConfiguration) {
		for i := range c.Webhooks {
			c.Webhooks[i].FailurePolicy = &validating
		}
	}, nil)
	if err != nil {
		return fmt.Errorf("validating webhook configuration: %w", err)
	}
	err = editConfig(ctx, reg.MutatingWebhookConfigurations(), MutatingWebhookName, func(c *admissionv1.MutatingWebhookConfiguration) {
		for i := range c.Webhooks {
			c.Webhooks[i].FailurePolicy = &mutating
		}
	}, nil)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("mutating webhook configuration: %w", err)
	}
	return nil
}

// Uninstall removes the webhook configurations first (so the API server stops
// calling a webhook that is about to disappear), then stops the process and
// removes Gatekeeper's files. It is safe to call when nothing is installed or
// the cluster is already gone.
func (g *Gatekeeper) Uninstall(ctx context.Context) error {
	var errs []error
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, del := range []func() error{
		func() error {
			return g.kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(cctx, ValidatingWebhookName, metav1.DeleteOptions{})
		},
		func() error {
			return g.kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(cctx, MutatingWebhookName, metav1.DeleteOptions{})
		},
	} {
		if err := del(); err != nil && !apierrors.IsNotFound(err) && !isUnreachable(err) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, Teardown(g.opts.Dir))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("gatekeeper: uninstall: %w", err)
	}
	return nil
}

// Teardown stops a local Gatekeeper process recorded under dir — and any
// other process naming its certificate directory, left by a crashed run —
// and removes its files, without talking to the API server. It is what
// `harness down` uses, since the cluster goes away with it.
func Teardown(dir string) error {
	// The process was started with an absolute --cert-dir, the marker it is
	// found by: a relative dir would find nothing and report success.
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("gatekeeper teardown: %w", err)
	}
	g := &Gatekeeper{opts: Options{Dir: dir}}
	var errs []error
	// An unreadable state must not make the install unremovable: the
	// process it records names the cert directory and is found below.
	s, _ := g.readState()
	if s != nil {
		errs = append(errs, s.Process.Stop(15*time.Second))
	}
	leftovers, err := proc.FindByMarker(g.certDir())
	errs = append(errs, err)
	for _, pid := range leftovers {
		errs = append(errs, proc.Handle{Name: "gatekeeper", PID: pid, Marker: g.certDir()}.Stop(15*time.Second))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("gatekeeper: teardown: %w", err)
	}
	if err := os.RemoveAll(g.home()); err != nil {
		return fmt.Errorf("gatekeeper: teardown: %w", err)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }

// isUnreachable reports a cluster that is already gone, which is what
// Uninstall meets when `harness down` runs after a crash of the control plane.
func isUnreachable(err error) bool {
	var opErr *net.OpError
	return errors.As(err, &opErr) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ECONNREFUSED)
}
