//go:build depsprobe

package main

import (
	_ "github.com/Shopify/toxiproxy/v2"
	_ "github.com/google/go-containerregistry/pkg/v1"
	_ "github.com/mattn/go-sqlite3"
	_ "github.com/open-policy-agent/frameworks/constraint/pkg/client"
	_ "github.com/open-policy-agent/frameworks/constraint/pkg/client/drivers/rego"
	_ "github.com/open-policy-agent/gatekeeper/v3/pkg/drivers/k8scel"
	_ "github.com/open-policy-agent/gatekeeper/v3/pkg/expansion"
	_ "github.com/open-policy-agent/gatekeeper/v3/pkg/gator/reader"
	_ "github.com/open-policy-agent/gatekeeper/v3/pkg/gator/verify"
	_ "github.com/open-policy-agent/gatekeeper/v3/pkg/mutation"
	_ "github.com/open-policy-agent/gatekeeper/v3/pkg/target"
	_ "github.com/open-policy-agent/opa/v1/rego"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/rabbitmq/amqp091-go"
	_ "github.com/spf13/cobra"
	_ "github.com/tsenart/vegeta/v12/lib"
	_ "k8s.io/client-go/kubernetes"
	_ "sigs.k8s.io/controller-runtime/pkg/envtest"
	_ "sigs.k8s.io/kind/pkg/cluster"
	_ "sigs.k8s.io/kustomize/api/krusty"
	_ "sigs.k8s.io/kustomize/kyaml/filesys"
	_ "sigs.k8s.io/yaml"
)

func main() {}
