// Package podgen generates pod specs and workloads for policy tests and
// benchmarks: random ones that probe the corners of the tracker rules
// (quantity spellings, container lists, selectors, affinities), and
// compliant ones shaped like the tracker's own Deployment.
package podgen

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Obj is a Kubernetes object as generic JSON-shaped data: numbers are int64
// or float64, as unstructured.Unstructured requires.
type Obj = map[string]any

// GovernedLabel marks a namespace as governed by the bundle.
const GovernedLabel = "edgetrace.io/governed"

// Namespace returns a governed Namespace.
func Namespace(name string) Obj {
	return Obj{
		"apiVersion": "v1", "kind": "Namespace",
		"metadata": Obj{"name": name, "labels": Obj{GovernedLabel: "true"}},
	}
}

// Generator produces objects from a seeded source, so a failure can be
// reproduced from the seed alone.
type Generator struct {
	r *rand.Rand
}

// New returns a generator seeded with seed.
func New(seed uint64) *Generator {
	return &Generator{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (g *Generator) pick(options ...string) string { return options[g.r.IntN(len(options))] }
func (g *Generator) chance(p float64) bool         { return g.r.Float64() < p }

// Quantity returns a quantity spelling: mostly legal Kubernetes forms
// (integers, decimals, leading or trailing dots, signs, exponents, binary
// and decimal suffixes), sometimes illegal ones.
func (g *Generator) Quantity(memory bool) any {
	if g.chance(0.03) {
		// A bare JSON number, as `cpu: 1` in YAML becomes.
		return []any{int64(1), 0.5, int64(2), int64(536870912), int64(100)}[g.r.IntN(5)]
	}
	if g.chance(0.08) {
		return g.pick("", "abc", "1.2.3", "1e", "Mi", "1mi", "1 Mi", " 1", "1KB", "0x10", "--1", "1e1.5", "1.5e", "+", ".", "1Ki1", "e3", "1iB", "1EE")
	}
	var mant string
	switch g.r.IntN(5) {
	case 0:
		mant = fmt.Sprint(g.r.IntN(1000))
	case 1:
		mant = fmt.Sprintf("%d.%d", g.r.IntN(10), g.r.IntN(1000))
	case 2:
		mant = fmt.Sprintf(".%d", g.r.IntN(1000))
	case 3:
		mant = fmt.Sprintf("%d.", g.r.IntN(1000))
	default:
		mant = fmt.Sprint(g.r.IntN(1 << 30))
	}
	if g.chance(0.05) {
		mant = g.pick("+", "-") + mant
	}
	if g.chance(0.01) {
		mant = "0." + strings.Repeat("0", 55+g.r.IntN(10)) + mant // around the 64-character cap
	}
	var suffix string
	switch g.r.IntN(4) {
	case 0:
	case 1:
		exp := fmt.Sprint(g.r.IntN(10))
		if g.chance(0.1) {
			// Exponents near and past what the policy compares, including those
			// Kubernetes wraps around int32 (e-2147483649 means e+2147483647).
			exp = g.pick("99", "099", "100", "0100", "2147483647", "2147483649", "4294967296")
		}
		suffix = g.pick("e", "E") + g.pick("", "+", "-") + exp
	default:
		if memory {
			suffix = g.pick("Ki", "Mi", "Gi", "Ti", "k", "M", "G", "m", "")
		} else {
			suffix = g.pick("m", "", "k", "Mi", "u", "n")
		}
	}
	return mant + suffix
}

// In-bounds spellings of the production constraint's values, low (request)
// and high (limit) halves, so that generated objects are often admitted.
var (
	lowCPU     = []string{"100m", "0.1", ".1", "1e-1", "150m", "0.2", "200m"}
	highCPU    = []string{"250m", "0.25", "2.5e-1", "500m", "0.5", ".5", "5e-1", "400m"}
	lowMemory  = []string{"128Mi", "134217728", "0.125Gi", "150M", "200Mi", "2e8"}
	highMemory = []string{"256Mi", "512Mi", "0.5Gi", "5e8", "536870912", "500M", "300Mi"}
)

// Resources returns a resources stanza: usually in bounds in one of many
// spellings, otherwise with each of requests/limits and cpu/memory present
// or missing and spelt at random.
func (g *Generator) Resources() Obj {
	if g.chance(0.75) {
		return Obj{
			"requests": Obj{"cpu": g.pick(lowCPU...), "memory": g.pick(lowMemory...)},
			"limits":   Obj{"cpu": g.pick(highCPU...), "memory": g.pick(highMemory...)},
		}
	}
	res := Obj{}
	for _, kind := range []string{"requests", "limits"} {
		if g.chance(0.1) {
			continue
		}
		m := Obj{}
		if !g.chance(0.07) {
			m["cpu"] = g.Quantity(false)
		}
		if !g.chance(0.07) {
			m["memory"] = g.Quantity(true)
		}
		res[kind] = m
	}
	return res
}

// Container returns a random container named name: usually hardened, with
// probes (which the hardening rule requires of regular containers).
func (g *Generator) Container(name string) Obj {
	c := Obj{
		"name":  name,
		"image": g.pick("registry.example.com/supply-chain-tracker:1.4.2", "registry.example.com/supply-chain-tracker:1.4.2", "registry.example.com/supply-chain-tracker:1.4.2", "registry.example.com/supply-chain-tracker:latest", "registry.example.com/supply-chain-tracker", "registry.example.com.evil.io/supply-chain-tracker:1.0", "docker.io/library/busybox:1.36"),
	}
	if !g.chance(0.05) {
		c["resources"] = g.Resources()
	}
	if g.chance(0.1) {
		env, envFrom := g.env()
		if env != nil {
			c["env"] = env
		}
		if envFrom != nil {
			c["envFrom"] = envFrom
		}
	}
	if !g.chance(0.1) {
		sc := Obj{"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": Obj{"drop": []any{"ALL"}}}
		if g.chance(0.05) {
			sc["runAsNonRoot"] = false
		}
		if g.chance(0.05) {
			sc["capabilities"] = Obj{"drop": []any{"ALL"}, "add": []any{g.pick("NET_ADMIN", "NET_BIND_SERVICE")}}
		}
		if g.chance(0.05) {
			sc[g.pick("seccompProfile", "appArmorProfile")] = g.profile()
		}
		if g.chance(0.03) {
			sc["procMount"] = g.pick("Default", "Unmasked")
		}
		if g.chance(0.03) {
			sc["seLinuxOptions"] = g.seLinux()
		}
		c["securityContext"] = sc
	}
	if !g.chance(0.1) {
		c["readinessProbe"] = Obj{"httpGet": Obj{"path": "/readyz", "port": int64(8080)}}
		c["livenessProbe"] = Obj{"httpGet": Obj{"path": "/healthz", "port": int64(8080)}}
	}
	return c
}

// env returns env and envFrom lists that set tracker settings (or may) by value,
// from the validated ConfigMap or from sources no constraint can check.
func (g *Generator) env() (env, envFrom []any) {
	switch g.r.IntN(8) {
	case 0:
		env = []any{Obj{"name": "TRACKING_ENABLED", "value": g.pick("true", "false", "on", "")}}
	case 1:
		env = []any{Obj{"name": "TRACKING_ENABLED"}}
	case 2:
		env = []any{Obj{"name": "TRACKING_ENABLED", "valueFrom": Obj{"configMapKeyRef": Obj{"name": g.pick("supply-chain-config", "other"), "key": g.pick("sync_enabled", "tracking_enabled")}}}}
	case 3:
		env = []any{Obj{"name": "TRACKING_ENABLED", "valueFrom": Obj{"secretKeyRef": Obj{"name": "flags", "key": "tracking"}}}}
	case 4:
		env = []any{Obj{"name": g.pick("sync_interval", "cache_ttl"), "value": g.pick("30s", "720h", "1m30s", "9999999999h", "")}}
	case 5:
		key := g.pick("sync_interval", "cache_ttl", "sync_enabled")
		env = []any{Obj{"name": g.pick("sync_interval", "sync_enabled"), "valueFrom": Obj{"configMapKeyRef": Obj{"name": "supply-chain-config", "key": key}}}}
	}
	config := Obj{"configMapRef": Obj{"name": "supply-chain-config"}}
	other := Obj{"prefix": "TRACKING_", "secretRef": Obj{"name": "flags"}}
	switch g.r.IntN(4) {
	case 0:
		envFrom = []any{config}
	case 1:
		envFrom = []any{config, other}
	case 2:
		envFrom = []any{other, config} // the ConfigMap, last, overrides the Secret for its keys
	}
	return env, envFrom
}

// seLinux returns SELinux options, within Pod Security's baseline or not.
func (g *Generator) seLinux() Obj {
	o := Obj{"type": g.pick("container_t", "spc_t", "", "container_init_t")}
	if g.chance(0.3) {
		o[g.pick("user", "role", "level")] = g.pick("system_u", "", "s0:c1")
	}
	return o
}

// profile returns a seccomp or AppArmor profile, confining or not.
func (g *Generator) profile() Obj {
	if g.chance(0.3) {
		return Obj{"type": "Localhost", "localhostProfile": "edge.json"}
	}
	return Obj{"type": g.pick("RuntimeDefault", "Unconfined")}
}

// PodSpec returns a random pod spec.
func (g *Generator) PodSpec() Obj {
	spec := Obj{}
	if !g.chance(0.1) {
		sc := Obj{"runAsNonRoot": true, "runAsUser": int64(65532)}
		if g.chance(0.05) {
			sc[g.pick("seccompProfile", "appArmorProfile")] = g.profile()
		}
		if g.chance(0.03) {
			sc["seLinuxOptions"] = g.seLinux()
		}
		spec["securityContext"] = sc
	}
	if g.chance(0.05) {
		spec["volumes"] = []any{
			Obj{"name": "cfg", "configMap": Obj{"name": "supply-chain-config"}},
			Obj{"name": "extra", g.pick("emptyDir", "nfs", "image", "hostPath", "projected"): Obj{}},
		}
	}
	if g.chance(0.05) {
		spec["restartPolicy"] = g.pick("Always", "OnFailure", "Never")
	}
	if g.chance(0.03) {
		spec["resources"] = []Obj{{}, {"requests": Obj{"cpu": "4"}}, {"limits": Obj{"memory": "1Gi"}}}[g.r.IntN(3)] // pod-level
	}
	if !g.chance(0.1) {
		spec["runtimeClassName"] = g.pick("wasmedge", "wasmedge", "wasmedge", "wasmedge", "wasmedge", "wasmedge", "WasmEdge", " wasmedge", "wasmedge ", "", "runc", "crun")
	}
	switch g.r.IntN(7) {
	case 0:
	case 1, 2, 5, 6:
		spec["nodeSelector"] = Obj{"node-type": "edge"}
	case 3:
		spec["nodeSelector"] = Obj{"node-type": g.pick("Edge", "cloud", "edge ", ""), g.pick("zone", "node-type"): "edge"}
	default:
		spec["nodeSelector"] = Obj{"node-type": "edge", "zone": "a"}
	}
	if g.chance(0.25) {
		spec["affinity"] = g.affinity()
	}
	spec["containers"] = g.containers("app", 1+g.r.IntN(2))
	if g.chance(0.3) {
		inits := g.containers("init", 1+g.r.IntN(2))
		for _, c := range inits {
			if g.chance(0.3) {
				c.(Obj)["restartPolicy"] = "Always"
			}
		}
		spec["initContainers"] = inits
	}
	if g.chance(0.05) {
		spec["ephemeralContainers"] = g.containers("debug", 1)
	}
	return spec
}

func (g *Generator) containers(prefix string, n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = g.Container(fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}

func (g *Generator) affinity() Obj {
	if g.chance(0.15) {
		return Obj{"nodeAffinity": Obj{"preferredDuringSchedulingIgnoredDuringExecution": []any{
			Obj{"weight": int64(1), "preference": Obj{"matchExpressions": []any{g.expression()}}},
		}}}
	}
	terms := make([]any, 1+g.r.IntN(3))
	for i := range terms {
		exprs := make([]any, 1+g.r.IntN(2))
		for j := range exprs {
			exprs[j] = g.expression()
		}
		term := Obj{"matchExpressions": exprs}
		if g.chance(0.05) {
			term = Obj{"matchFields": []any{Obj{"key": "metadata.name", "operator": "In", "values": []any{"edge-1"}}}}
		}
		terms[i] = term
	}
	return Obj{"nodeAffinity": Obj{"requiredDuringSchedulingIgnoredDuringExecution": Obj{"nodeSelectorTerms": terms}}}
}

func (g *Generator) expression() Obj {
	key := g.pick("node-type", "node-type", "node-type", "zone")
	op := g.pick("In", "In", "In", "NotIn", "Exists", "DoesNotExist")
	e := Obj{"key": key, "operator": op}
	if op == "In" || op == "NotIn" {
		vals := []any{"edge"}
		switch g.r.IntN(4) {
		case 0:
			vals = []any{"edge", "cloud"}
		case 1:
			vals = []any{g.pick("Edge", "cloud", "edge ")}
		}
		e["values"] = vals
	}
	return e
}

// Pod wraps spec in a Pod, sometimes in a workload of another kind so that
// expansion is exercised too.
func (g *Generator) Pod(namespace, name string) Obj {
	spec := g.PodSpec()
	if g.chance(0.8) {
		meta := Obj{"name": name, "namespace": namespace}
		if cs, _ := spec["containers"].([]any); len(cs) > 0 && g.chance(0.03) {
			// The AppArmor annotation Kubernetes still honours beside the field.
			c, _ := cs[0].(Obj)
			meta["annotations"] = Obj{"container.apparmor.security.beta.kubernetes.io/" + fmt.Sprint(c["name"]): g.pick("unconfined", "runtime/default")}
		}
		return Obj{"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
	}
	delete(spec, "ephemeralContainers") // not part of a pod template
	return Workload(g.pick("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"), namespace, name, spec)
}

// Workload wraps a pod spec in a workload of the given kind.
func Workload(kind, namespace, name string, podSpec Obj) Obj {
	labels := Obj{"app": name}
	template := Obj{"metadata": Obj{"labels": labels}, "spec": podSpec}
	meta := Obj{"name": name, "namespace": namespace}
	apiVersion := "apps/v1"
	var spec Obj
	switch kind {
	case "Job":
		apiVersion = "batch/v1"
		podSpec["restartPolicy"] = "Never"
		spec = Obj{"template": template}
	case "CronJob":
		apiVersion = "batch/v1"
		podSpec["restartPolicy"] = "Never"
		spec = Obj{"schedule": "*/5 * * * *", "jobTemplate": Obj{"spec": Obj{"template": template}}}
	default:
		spec = Obj{"selector": Obj{"matchLabels": labels}, "template": template}
	}
	return Obj{"apiVersion": apiVersion, "kind": kind, "metadata": meta, "spec": spec}
}

// TrackerPodSpec is the tracker's compliant pod spec: the case study's
// Deployment with a pinned image.
func TrackerPodSpec() Obj {
	return Obj{
		"runtimeClassName": "wasmedge",
		"nodeSelector":     Obj{"node-type": "edge"},
		"containers": []any{Obj{
			"name":  "tracker",
			"image": "registry.example.com/supply-chain-tracker:1.4.2",
			"ports": []any{Obj{"containerPort": int64(8080)}},
			"env":   []any{Obj{"name": "TRACKING_ENABLED", "value": "true"}},
			"resources": Obj{
				"requests": Obj{"cpu": "100m", "memory": "128Mi"},
				"limits":   Obj{"cpu": "500m", "memory": "512Mi"},
			},
			"securityContext": Obj{"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": Obj{"drop": []any{"ALL"}}},
			"readinessProbe":  Obj{"httpGet": Obj{"path": "/readyz", "port": int64(8080)}},
			"livenessProbe":   Obj{"httpGet": Obj{"path": "/healthz", "port": int64(8080)}},
		}},
		"securityContext": Obj{"runAsNonRoot": true, "runAsUser": int64(65532)},
	}
}

// Name returns a DNS-1123 name with the given prefix and index.
func Name(prefix string, i int) string {
	return strings.ToLower(fmt.Sprintf("%s-%05d", prefix, i))
}
