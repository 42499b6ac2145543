// Package templategen turns the policy sources under policies/ into Gatekeeper
// ConstraintTemplates.
//
// policies/ is the single source of truth: each policies/<name>/ holds
// meta.yaml (kind, title, version, description, libs, parameters schema),
// src.rego and, where CEL can express the rule, src.cel (the YAML of a
// K8sNativeValidation source). Shared Rego lives in policies/lib/<lib>/.
// Generate writes constrainttemplates/<name>/template.yaml and the copy that
// operators apply, deploy/gatekeeper/templates/<name>.yaml, plus that
// folder's kustomization.yaml. Generated files carry a header and are never
// edited by hand; `make verify` regenerates and diffs them.
package templategen
