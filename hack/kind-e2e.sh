#!/usr/bin/env bash
# End to end on a real cluster, for machines with Docker: a kind cluster, Argo Workflows, the image
# built from this checkout, the chart, then the two seed workflows. Checks that both daemons were
# labeled at admission, that both workflows succeed, that the reaper deletes both leftover daemons,
# that a helm upgrade keeps the caBundle, and that helm uninstall (pre-delete hook) removes the webhooks.
# NOT run by the project's test suite (its machines have no Docker engine); run it by hand:
#   hack/kind-e2e.sh            # KEEP=1 keeps the cluster afterwards
# Needs: docker, kind, kubectl, helm (v3.14+ or v4).
set -euo pipefail

CLUSTER="${CLUSTER:-argo-daemon-guard-e2e}"
ARGO_VERSION="${ARGO_VERSION:-v3.7.18}"
IMAGE="${IMAGE:-argo-daemon-guard:e2e}"
NS=argo-daemon-guard
RELEASE=adg
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CONFIG_NAME="$RELEASE-argo-daemon-guard"

step() { printf '\n==> %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
for tool in docker kind kubectl helm; do command -v "$tool" >/dev/null || fail "$tool is not installed"; done

cleanup() { [ "${KEEP:-0}" = 1 ] || kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true; }
trap cleanup EXIT

step "kind cluster $CLUSTER"
kind create cluster --name "$CLUSTER" --wait 120s
kubectl cluster-info --context "kind-$CLUSTER" >/dev/null

step "image $IMAGE"
docker build -t "$IMAGE" "$ROOT"
docker run --rm "$IMAGE" --help >/dev/null
kind load docker-image "$IMAGE" --name "$CLUSTER"

step "Argo Workflows $ARGO_VERSION"
kubectl create namespace argo
kubectl apply -n argo --server-side -f "https://github.com/argoproj/argo-workflows/releases/download/$ARGO_VERSION/install.yaml"
# Workflow pods run as argo's default ServiceAccount; the executor must be able to report results.
kubectl apply -f - <<'EOF'
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: executor, namespace: argo}
rules:
  - apiGroups: [argoproj.io]
    resources: [workflowtaskresults]
    verbs: [create, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: executor-default, namespace: argo}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: executor}
subjects: [{kind: ServiceAccount, name: default, namespace: argo}]
EOF
kubectl -n argo rollout status deploy/workflow-controller --timeout=180s

step "chart (selfManaged certificates, reaper graceMargin 5s)"
helm install "$RELEASE" "$ROOT/charts/argo-daemon-guard" --namespace "$NS" --create-namespace \
  --set image.repository="${IMAGE%:*}" --set image.tag="${IMAGE##*:}" --set image.pullPolicy=Never \
  --set reaper.config.graceMargin=5s --wait --timeout 5m
kubectl -n "$NS" rollout status deploy/"$RELEASE"-argo-daemon-guard-webhook deploy/"$RELEASE"-argo-daemon-guard-reaper --timeout=180s
ca_bundle() { kubectl get "$1" "$CONFIG_NAME" -o jsonpath='{.webhooks[0].clientConfig.caBundle}'; }
for i in $(seq 60); do [ -n "$(ca_bundle mutatingwebhookconfiguration)" ] && break; sleep 2; done
[ -n "$(ca_bundle mutatingwebhookconfiguration)" ] || fail "the webhook did not set its caBundle"
CA_BEFORE="$(ca_bundle validatingwebhookconfiguration)"

running_daemons() { kubectl -n argo get pods -l argo-daemon-guard.io/daemon=true --field-selector=status.phase=Running -o name | wc -l; }

step "seed workflows: both daemons labeled at admission"
kubectl create -n argo -f "$ROOT/test/fixtures/seeds/redis.yaml"
kubectl create -n argo -f "$ROOT/test/fixtures/seeds/influxdb.yaml"
for i in $(seq 90); do n="$(running_daemons)"; [ "$n" -ge 2 ] && break; sleep 2; done
[ "$n" -ge 2 ] || fail "expected 2 running daemon pods labeled argo-daemon-guard.io/daemon=true, found $n"
kubectl -n argo get pods -l argo-daemon-guard.io/daemon=true \
  -o custom-columns='POD:.metadata.name,TEMPLATE:.metadata.annotations.argo-daemon-guard\.io/template,CAP:.spec.activeDeadlineSeconds'

step "an orphaned daemon (Workflow deleted with --cascade=orphan) is reaped"
# The redis workflow's test step sleeps 60 s while its daemon runs: orphan the daemon now.
kubectl -n argo delete workflow daemon-workflow --cascade=orphan
for i in $(seq 60); do
  kubectl -n argo get pods -l workflows.argoproj.io/workflow=daemon-workflow,argo-daemon-guard.io/daemon=true -o name | grep -q . || break; sleep 2
done
kubectl -n argo get pods -l workflows.argoproj.io/workflow=daemon-workflow,argo-daemon-guard.io/daemon=true -o name | grep -q . \
  && fail "the orphaned redis daemon is still there"
kubectl -n "$NS" logs -l app.kubernetes.io/component=reaper --tail=-1 | grep '"event":"reap"' | grep '"reason":"owner-gone"' \
  || fail "no owner-gone reap record in the reaper log"

step "the influxdb workflow succeeds and leaves no daemon running"
kubectl -n argo wait workflows --all --for=jsonpath='{.status.phase}'=Succeeded --timeout=600s
for i in $(seq 90); do [ "$(running_daemons)" -eq 0 ] && break; sleep 2; done
[ "$(running_daemons)" -eq 0 ] || fail "a daemon pod still runs after its workflow succeeded"
# Stopped by Argo itself or reaped: the reaper's log says which.
kubectl -n "$NS" logs -l app.kubernetes.io/component=reaper --tail=-1 | grep '"event":"reap"' || true

step "upgrade keeps the caBundle and admission"
helm upgrade "$RELEASE" "$ROOT/charts/argo-daemon-guard" --namespace "$NS" --reuse-values --set webhook.logLevel=debug --wait --timeout 5m
[ "$(ca_bundle validatingwebhookconfiguration)" = "$CA_BEFORE" ] || fail "the upgrade changed the caBundle"
kubectl create -n argo -f "$ROOT/test/fixtures/seeds/influxdb.yaml"
for i in $(seq 60); do n="$(running_daemons)"; [ "$n" -ge 1 ] && break; sleep 2; done
[ "$n" -ge 1 ] || fail "no labeled daemon after the upgrade"

step "uninstall removes the webhooks first (pre-delete hook)"
helm uninstall "$RELEASE" --namespace "$NS" --wait --timeout 5m
kubectl get mutatingwebhookconfiguration "$CONFIG_NAME" >/dev/null 2>&1 && fail "MutatingWebhookConfiguration left behind"
kubectl get validatingwebhookconfiguration "$CONFIG_NAME" >/dev/null 2>&1 && fail "ValidatingWebhookConfiguration left behind"

printf '\nPASS: labeled, reaped, upgraded, uninstalled\n'
