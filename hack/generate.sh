#!/usr/bin/env bash
# Regenerates constrainttemplates/*/template.yaml and deploy/gatekeeper/templates/
# from policies/ (see harness/templategen).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
harness generate
