package gatekeeper

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/edgetrace/edgetrace/harness/cluster"
	"github.com/edgetrace/edgetrace/harness/cluster/proc"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// runningFixture is what an Install leaves on this host, with stand-ins for
// the Gatekeeper process: a shell naming the certificate directory in a flag
// as Gatekeeper does (so it counts as alive), a TLS server with the
// certificates on the recorded webhook port, and a /readyz that answers 200.
// The cluster is a fake clientset holding objs. It returns the Gatekeeper
// handle Install would be called on, the recorded state and the CA.
func runningFixture(t *testing.T, objs ...runtime.Object) (*Gatekeeper, *fake.Clientset, *state, []byte) {
	t.Helper()
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte("a kubeconfig"), 0o600); err != nil {
		t.Fatal(err)
	}
	kube := fake.NewClientset(objs...)
	g := &Gatekeeper{
		opts: Options{Version: DefaultVersion, Dir: dir, Kubeconfig: kubeconfig, Mutation: true, AuditInterval: 5 * time.Second,
			// Only a reinstall needs the tools, and finds none here.
			Tools: &cluster.Tools{Root: t.TempDir()}},
		kube: kube,
	}
	g.opts.Log = testWriter{t}
	caPEM, err := writeCerts(g.certDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(g.certDir(), "tls.crt"), filepath.Join(g.certDir(), "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	webhook := httptest.NewUnstartedServer(ok)
	webhook.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	webhook.StartTLS()
	t.Cleanup(webhook.Close)
	health := httptest.NewServer(ok)
	t.Cleanup(health.Close)
	cmd := exec.Command("sh", "-c", "sleep 60; :", "sh", "--cert-dir="+g.certDir())
	h, err := proc.Start("gatekeeper", cmd, g.LogPath(), g.certDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Stop(time.Second) })
	id, err := g.clusterID()
	if err != nil {
		t.Fatal(err)
	}
	s := &state{Version: DefaultVersion, Mutation: true, AuditInterval: 5 * time.Second,
		Port: port(t, webhook), HealthPort: port(t, health), Process: h, Cluster: id}
	if err := g.writeState(s); err != nil {
		t.Fatal(err)
	}
	return g, kube, s, caPEM
}

func port(t *testing.T, srv *httptest.Server) int {
	t.Helper()
	_, p, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Logf("%s", p); return len(p), nil }

// TestInstallReuseAppliesWebhooks: a reused process must end up behind the
// webhook configurations Install writes, whether an earlier up was killed
// before writing them or someone deleted or loosened them since; a process
// behind no configuration admits everything while up reports ready.
func TestInstallReuseAppliesWebhooks(t *testing.T) {
	ignore := admissionv1.Ignore
	elsewhere := "https://127.0.0.1:1/v1/admit"
	edited := &admissionv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: ValidatingWebhookName, Labels: map[string]string{"kept": "yes"}},
		Webhooks: []admissionv1.ValidatingWebhook{{
			Name:          "validation.gatekeeper.sh",
			FailurePolicy: &ignore,
			ClientConfig:  admissionv1.WebhookClientConfig{URL: &elsewhere, CABundle: []byte("stale")},
		}},
	}
	for name, objs := range map[string][]runtime.Object{
		"never written":            nil,
		"edited, mutating deleted": {edited},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			g, kube, s, caPEM := runningFixture(t, objs...)
			if err := g.Install(ctx); err != nil {
				t.Fatal(err)
			}
			after, err := g.readState()
			if err != nil || after == nil || after.Process != s.Process {
				t.Fatalf("state after Install = %+v (%v), want the running process %+v kept", after, err, s.Process)
			}
			checkLocalWebhooks(t, kube, s.Port, caPEM)
			if len(objs) > 0 {
				vwc, _ := kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, ValidatingWebhookName, metav1.GetOptions{})
				if vwc.Labels["kept"] != "yes" {
					t.Errorf("labels = %v, want others' labels kept", vwc.Labels)
				}
			}
		})
	}
}

// TestReuseRefusesAChangedProcess: what the process reads once, at start,
// must match, or Install starts a new one; until then the configurations are
// left alone.
func TestReuseRefusesAChangedProcess(t *testing.T) {
	for name, change := range map[string]func(g *Gatekeeper, s *state){
		"version":        func(g *Gatekeeper, s *state) { g.opts.Version = "v3.17.0" },
		"mutation":       func(g *Gatekeeper, s *state) { g.opts.Mutation = false },
		"audit interval": func(g *Gatekeeper, s *state) { g.opts.AuditInterval = 0 },
		"cluster":        func(g *Gatekeeper, s *state) { s.Cluster = "another" },
		"process gone":   func(g *Gatekeeper, s *state) { s.Process = proc.Handle{} },
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			g, kube, s, _ := runningFixture(t)
			change(g, s)
			if err := g.writeState(s); err != nil {
				t.Fatal(err)
			}
			id, err := g.clusterID()
			if err != nil {
				t.Fatal(err)
			}
			reused, err := g.reuse(ctx, id)
			if err != nil || reused {
				t.Fatalf("reuse = %v, %v; want false, nil", reused, err)
			}
			list, err := kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
			if err != nil || len(list.Items) != 0 {
				t.Errorf("webhook configurations after a refused reuse: %d (%v), want none", len(list.Items), err)
			}
		})
	}
}

// checkLocalWebhooks asserts both configurations point at the local process
// on port with the harness's CA, fail-closed.
func checkLocalWebhooks(t *testing.T, kube *fake.Clientset, port int, caPEM []byte) {
	t.Helper()
	ctx := context.Background()
	base := "https://127.0.0.1:" + strconv.Itoa(port)
	vwc, err := kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, ValidatingWebhookName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mwc, err := kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, MutatingWebhookName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(vwc.Webhooks) != 1 || len(mwc.Webhooks) != 1 {
		t.Fatalf("webhooks: %d validating, %d mutating; want 1 each", len(vwc.Webhooks), len(mwc.Webhooks))
	}
	for _, c := range []struct {
		kind, url, wantURL string
		policy             admissionv1.FailurePolicyType
		ca                 []byte
	}{
		{"validating", ptr.Deref(vwc.Webhooks[0].ClientConfig.URL, ""), base + "/v1/admit", ptr.Deref(vwc.Webhooks[0].FailurePolicy, ""), vwc.Webhooks[0].ClientConfig.CABundle},
		{"mutating", ptr.Deref(mwc.Webhooks[0].ClientConfig.URL, ""), base + "/v1/mutate", ptr.Deref(mwc.Webhooks[0].FailurePolicy, ""), mwc.Webhooks[0].ClientConfig.CABundle},
	} {
		if c.url != c.wantURL || c.policy != admissionv1.Fail || string(c.ca) != string(caPEM) {
			t.Errorf("%s webhook: url %s, failurePolicy %s, CA matches %v; want %s, Fail, the harness CA",
				c.kind, c.url, c.policy, string(c.ca) == string(caPEM), c.wantURL)
		}
	}
}
