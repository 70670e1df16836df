{{/* Names, labels and the pieces every pod shares. */}}

{{- define "selfheal.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "selfheal.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "selfheal.labels" -}}
app.kubernetes.io/name: {{ include "selfheal.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{ include "selfheal.commonLabels" . }}
{{- end -}}

{{/* The labels that are not selector labels. */}}
{{- define "selfheal.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: self-healing
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "api"), agents also "environment". */}}
{{- define "selfheal.selectorLabels" -}}
app.kubernetes.io/name: {{ include "selfheal.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- with .environment }}
selfheal.io/environment: {{ regexReplaceAll "[^a-z0-9]+$" . "" | trunc 63 | trimSuffix "-" | quote }}
{{- end }}
{{- end -}}

{{- define "selfheal.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The API's image: image.tag unless api.imageTag holds it back (upgrades: workers first). */}}
{{- define "selfheal.apiImage" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.api.imageTag | default .Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "selfheal.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "selfheal.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "selfheal.secretName" -}}
{{- default (include "selfheal.fullname" .) .Values.secret.name -}}
{{- end -}}

{{- define "selfheal.configName" -}}
{{- printf "%s-config" (include "selfheal.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
"true" when the API is reachable from outside the cluster: an Ingress, or a NodePort or LoadBalancer
Service. GET /metrics then answers anyone unless METRICS_TOKEN is set, so the chart requires it.
*/}}
{{- define "selfheal.apiExposed" -}}
{{- if or .Values.api.ingress.enabled (has .Values.api.service.type (list "NodePort" "LoadBalancer")) }}true{{ end -}}
{{- end -}}

{{/*
Credentials each process reads, and whether it needs them: the API alone receives webhooks and serves
/api, the worker alone calls PagerDuty, SMTP and the trackers, agents only talk to Temporal.
METRICS_TOKEN is required when the API is exposed outside the cluster (selfheal.apiExposed).
*/}}
{{- define "selfheal.secretVars" -}}
api:
  DATABASE_URL: true
  PAGERDUTY_WEBHOOK_SECRETS: true
  SELFHEAL_ADMIN_TOKEN: true
  METRICS_TOKEN: {{ if include "selfheal.apiExposed" .root }}true{{ else }}false{{ end }}
  OIDC_CLIENT_SECRET: false
  TEMPORAL_API_KEY: false
worker:
  DATABASE_URL: true
  TEMPORAL_API_KEY: false
  PAGERDUTY_API_TOKEN: false
  SMTP_PASSWORD: false
  JIRA_API_TOKEN: false
  GITHUB_TOKEN: false
  EWM_PASSWORD: false
migrate:
  DATABASE_URL: true
agent:
  TEMPORAL_API_KEY: false
{{- end -}}

{{/* env entries reading a role's credentials from Secrets: (dict "root" $ "role" "api"). */}}
{{- define "selfheal.secretEnv" -}}
{{- $root := .root -}}
{{- $vars := get (include "selfheal.secretVars" . | fromYaml) .role -}}
{{- range $var := keys $vars | sortAlpha }}
{{- $ref := get $root.Values.secret.refs $var | default dict }}
- name: {{ $var }}
  valueFrom:
    secretKeyRef:
      name: {{ $ref.name | default (include "selfheal.secretName" $root) }}
      key: {{ $ref.key | default $var }}
      {{- if not (get $vars $var) }}
      optional: true
      {{- end }}
{{- end }}
{{- end -}}

{{/* Temporal connection settings every process shares. */}}
{{- define "selfheal.temporalEnv" -}}
- name: NODE_ENV
  value: production
- name: TEMPORAL_ADDRESS
  value: {{ required "temporal.address is required (host:port of the Temporal frontend)" .Values.temporal.address | quote }}
- name: TEMPORAL_NAMESPACE
  value: {{ .Values.temporal.namespace | quote }}
{{- if .Values.temporal.tls.secretName }}
- name: TEMPORAL_TLS_CERT_PATH
  value: /etc/selfheal/temporal-tls/{{ .Values.temporal.tls.certKey }}
- name: TEMPORAL_TLS_KEY_PATH
  value: /etc/selfheal/temporal-tls/{{ .Values.temporal.tls.keyKey }}
{{- if .Values.temporal.tls.caKey }}
- name: TEMPORAL_TLS_CA_PATH
  value: /etc/selfheal/temporal-tls/{{ .Values.temporal.tls.caKey }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "selfheal.temporalTlsVolume" -}}
{{- if .Values.temporal.tls.secretName }}
- name: temporal-tls
  secret:
    secretName: {{ .Values.temporal.tls.secretName }}
    # 0440: readable by the pod's group (fsGroup), which the non-root user is in.
    defaultMode: 288
    items:
      - { key: {{ .Values.temporal.tls.certKey }}, path: {{ .Values.temporal.tls.certKey }} }
      - { key: {{ .Values.temporal.tls.keyKey }}, path: {{ .Values.temporal.tls.keyKey }} }
      {{- if .Values.temporal.tls.caKey }}
      - { key: {{ .Values.temporal.tls.caKey }}, path: {{ .Values.temporal.tls.caKey }} }
      {{- end }}
{{- end }}
{{- end -}}

{{- define "selfheal.temporalTlsMount" -}}
{{- if .Values.temporal.tls.secretName }}
- name: temporal-tls
  mountPath: /etc/selfheal/temporal-tls
  readOnly: true
{{- end }}
{{- end -}}

{{/*
The pod-level settings every Deployment shares: (dict "root" $ "extra" <component values> "sel" <the
Deployment's selectorLabels dict>). affinity, when set, is used as given; otherwise spreadAcrossNodes asks
the scheduler to put each Deployment's replicas on different nodes: a preferred podAntiAffinity selecting
that Deployment's own pods (this release's instance label, its component, an agent's environment).
*/}}
{{- define "selfheal.podSpecCommon" -}}
{{- $root := .root -}}
serviceAccountName: {{ include "selfheal.serviceAccountName" $root }}
automountServiceAccountToken: false
enableServiceLinks: false
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (.extra.nodeSelector | default $root.Values.nodeSelector) }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (.extra.tolerations | default $root.Values.tolerations) }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if $root.Values.affinity }}
affinity:
  {{- toYaml $root.Values.affinity | nindent 2 }}
{{- else if $root.Values.spreadAcrossNodes }}
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "selfheal.selectorLabels" (required "selfheal.podSpecCommon needs sel" .sel) | nindent 14 }}
{{- end }}
{{- end -}}

{{- define "selfheal.podMetadata" -}}
{{- $root := .root -}}
labels:
  {{- include "selfheal.selectorLabels" . | nindent 2 }}
  {{- include "selfheal.commonLabels" $root | nindent 2 }}
  {{- with $root.Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- $annotations := merge (dict) (.annotations | default dict) $root.Values.podAnnotations }}
{{- with $annotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Kubernetes name for an environment's agent: lowercase, '_' → '-', at most 63 characters. */}}
{{- define "selfheal.agentName" -}}
{{- printf "%s-agent-%s" (include "selfheal.fullname" .root) (.env | replace "_" "-" | replace "." "-") | trunc 63 | trimSuffix "-" -}}
{{- end -}}
