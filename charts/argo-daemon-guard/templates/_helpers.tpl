{{/* Names. Every name is derived from the release, so an upgrade keeps them all. */}}
{{- define "adg.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "adg.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The two webhook configurations (one Mutating, one Validating) share this name. */}}
{{- define "adg.webhookConfigName" -}}{{ include "adg.fullname" . }}{{- end -}}
{{- define "adg.webhookName" -}}{{ include "adg.fullname" . }}-webhook{{- end -}}
{{- define "adg.reaperName" -}}{{ include "adg.fullname" . }}-reaper{{- end -}}
{{- define "adg.leaseName" -}}{{ include "adg.fullname" . }}-reaper{{- end -}}
{{- define "adg.policyConfigMap" -}}{{ include "adg.fullname" . }}-policy{{- end -}}
{{- define "adg.reaperConfigMap" -}}{{ include "adg.fullname" . }}-reaper-config{{- end -}}
{{- define "adg.uninstallName" -}}{{ include "adg.fullname" . }}-uninstall{{- end -}}

{{/* The Secret holding the serving certificate, in every mode. */}}
{{- define "adg.certSecretName" -}}
{{- if eq .Values.certs.mode "selfManaged" -}}
{{- default (printf "%s-webhook-certs" (include "adg.fullname" .)) .Values.certs.selfManaged.secretName -}}
{{- else if eq .Values.certs.mode "certManager" -}}
{{- include "adg.fullname" . }}-webhook-tls
{{- else -}}
{{- required "certs.existingSecret.name is required when certs.mode is existingSecret" .Values.certs.existingSecret.name -}}
{{- end -}}
{{- end -}}

{{- define "adg.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels: the standard app.kubernetes.io set. Call with (dict "ctx" $ "component" "webhook"). */}}
{{- define "adg.selectorLabels" -}}
app.kubernetes.io/name: {{ include "adg.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}

{{- define "adg.labels" -}}
{{ include "adg.selectorLabels" . }}
helm.sh/chart: {{ include "adg.chart" .ctx }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: argo-daemon-guard
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The chart's one image; global.imageRegistry prefixes it wherever it is used. */}}
{{- define "adg.image" -}}
{{- $repo := .Values.image.repository -}}
{{- with (.Values.global | default dict).imageRegistry -}}
{{- $repo = printf "%s/%s" (trimSuffix "/" .) $repo -}}
{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repo .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The ServiceAccount a part's pods run as: the chart's, or an existing one by name. Call with (dict "ctx" $ "component" "webhook"). */}}
{{- define "adg.serviceAccountName" -}}
{{- $sa := (index .ctx.Values .component).serviceAccount -}}
{{- if $sa.create -}}
{{- default (printf "%s-%s" (include "adg.fullname" .ctx) .component) $sa.name -}}
{{- else -}}
{{- required (printf "%s.serviceAccount.create=false needs %s.serviceAccount.name: the existing ServiceAccount the %s pods run as" .component .component .component) $sa.name -}}
{{- end -}}
{{- end -}}

{{/*
The part whose security contexts, node selector and tolerations the chart's short-lived pods
(uninstall hook, helm test) borrow: the webhook when it is installed, else the reaper.
*/}}
{{- define "adg.auxPart" -}}{{ ternary "webhook" "reaper" .Values.webhook.enabled }}{{- end -}}

{{/* The namespaces whose objects the guard handles, when Argo runs namespaced. */}}
{{- define "adg.watchNamespaces" -}}
{{- if .Values.namespaced.enabled -}}
{{- if not .Values.namespaced.namespaces -}}
{{- fail "namespaced.enabled needs namespaced.namespaces: the namespaces Argo runs Workflows in" -}}
{{- end -}}
{{- toJson .Values.namespaced.namespaces -}}
{{- else -}}
[]
{{- end -}}
{{- end -}}

{{/* Pod scheduling shared by both Deployments. Call with (dict "ctx" $ "v" .Values.webhook "component" "webhook"). */}}
{{- define "adg.scheduling" -}}
{{- with .v.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
topologySpreadConstraints:
{{- if .v.topologySpreadConstraints }}
  {{- toYaml .v.topologySpreadConstraints | nindent 2 }}
{{- else }}
{{- range $key := list "kubernetes.io/hostname" "topology.kubernetes.io/zone" }}
  - maxSkew: 1
    topologyKey: {{ $key }}
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "adg.selectorLabels" (dict "ctx" $.ctx "component" $.component) | nindent 8 }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
The four webhooks as core/webhooks.ts defines them (files/webhooks.json, generated from it), with the
release's values put in place of the placeholders. Returns the JSON of {mutating, validating}.
*/}}
{{- define "adg.webhookConfigurations" -}}
{{- $doc := .Files.Get "files/webhooks.json" | fromJson -}}
{{- $p := $doc.placeholders -}}
{{- $variant := ternary "instanceId" "default" (ne .Values.instanceId "") -}}
{{- $text := index $doc $variant | toJson -}}
{{- $text = replace (printf "%q" $p.serviceNamespace) (toJson .Release.Namespace) $text -}}
{{- $text = replace (printf "%q" $p.serviceName) (toJson (include "adg.webhookName" .)) $text -}}
{{- $text = replace (printf "%q" $p.instanceId) (toJson .Values.instanceId) $text -}}
{{- $text = replace (printf "%q" $p.failurePolicyPods) (toJson .Values.webhook.failurePolicy.pods) $text -}}
{{- $text = replace (printf "%q" $p.failurePolicyWorkflows) (toJson .Values.webhook.failurePolicy.workflows) $text -}}
{{- $text = replace (printf "%q" $p.failurePolicyTemplates) (toJson .Values.webhook.failurePolicy.templates) $text -}}
{{- $configs := fromJson $text -}}
{{- $watch := include "adg.watchNamespaces" . | fromJsonArray -}}
{{- range $kind, $cfg := $configs -}}
{{- range $w := $cfg.webhooks -}}
{{- $_ := set $w.clientConfig.service "port" (int $.Values.webhook.service.port) -}}
{{- $_ := set $w "timeoutSeconds" (int $.Values.webhook.timeoutSeconds) -}}
{{- /* NotIn: the release namespace (where the placeholder was), the extra ones, then what the core adds. */ -}}
{{- $first := first $w.namespaceSelector.matchExpressions -}}
{{- $values := list -}}
{{- range $v := $first.values -}}
{{- if eq $v $p.excludedNamespace -}}
{{- $values = concat $values (list $.Release.Namespace) $.Values.excludedNamespaces -}}
{{- else -}}
{{- $values = append $values $v -}}
{{- end -}}
{{- end -}}
{{- $_ := set $first "values" ($values | uniq) -}}
{{- if $watch -}}
{{- $_ := set $w.namespaceSelector "matchExpressions" (append $w.namespaceSelector.matchExpressions (dict "key" "kubernetes.io/metadata.name" "operator" "In" "values" $watch)) -}}
{{- end -}}
{{- /* The user's selectors narrow the built-in ones: their expressions are added, their labels must match too. */ -}}
{{- range $field := list "namespaceSelector" "objectSelector" -}}
{{- $user := index $.Values.webhook $field | default dict -}}
{{- $sel := index $w $field | default dict -}}
{{- with $user.matchExpressions -}}
{{- $_ := set $sel "matchExpressions" (concat ($sel.matchExpressions | default list) .) -}}
{{- end -}}
{{- with $user.matchLabels -}}
{{- $_ := set $sel "matchLabels" (merge (deepCopy .) ($sel.matchLabels | default dict)) -}}
{{- end -}}
{{- $_ := set $w $field $sel -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toJson $configs -}}
{{- end -}}

{{/*
The caBundle to render for one webhook, so that an upgrade never renders a stale or empty one:
  1. what the live webhook configuration has now (set by the webhook itself or by cert-manager's
     cainjector); rendering the live value also keeps server-side apply free of conflicts;
  2. else the certificate Secret's bundle (a reinstall over a kept Secret);
  3. else nothing: the webhook (selfManaged) or the cainjector (certManager) sets it once running.
existingSecret: certs.existingSecret.caBundle, else the Secret's ca.crt; one of them is required.
Call with (dict "ctx" $ "kind" "MutatingWebhookConfiguration" "webhook" "mutate-pods.argo-daemon-guard.io").
*/}}
{{- define "adg.caBundle" -}}
{{- $ctx := .ctx -}}
{{- $mode := $ctx.Values.certs.mode -}}
{{- $secret := lookup "v1" "Secret" $ctx.Release.Namespace (include "adg.certSecretName" $ctx) -}}
{{- $secretData := (get ($secret | default dict) "data") | default dict -}}
{{- if eq $mode "existingSecret" -}}
{{- $ca := $ctx.Values.certs.existingSecret.caBundle | default (get $secretData "ca.crt") -}}
{{- required "certs.existingSecret.caBundle is required (base64 of the PEM CA that issued the Secret's certificate) unless the Secret has a ca.crt the chart can read at install" $ca -}}
{{- else -}}
{{- $live := lookup "admissionregistration.k8s.io/v1" .kind "" (include "adg.webhookConfigName" $ctx) -}}
{{- $found := "" -}}
{{- range $w := (get ($live | default dict) "webhooks") | default list -}}
{{- if and (eq $w.name $.webhook) $w.clientConfig.caBundle -}}
{{- $found = $w.clientConfig.caBundle -}}
{{- end -}}
{{- end -}}
{{- if not $found -}}
{{- $found = get $secretData (ternary "ca-bundle.crt" "ca.crt" (eq $mode "selfManaged")) -}}
{{- end -}}
{{- $found -}}
{{- end -}}
{{- end -}}
