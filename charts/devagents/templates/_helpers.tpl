{{- define "devagents.fullname" -}}devagents-operator{{- end -}}

{{- define "devagents.labels" -}}
app.kubernetes.io/name: devagents
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "devagents.selectorLabels" -}}
app.kubernetes.io/name: devagents
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "devagents.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "devagents.agentImage" -}}
{{ .Values.agentImage.repository }}:{{ .Values.agentImage.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "devagents.tlsSecret" -}}devagents-operator-tls{{- end -}}

{{/* Cluster-scoped objects carry the release's namespace and name (several installs coexist). */}}
{{- define "devagents.clusterName" -}}{{ printf "devagents-%s-%s" .Release.Namespace .Release.Name | trunc 63 | trimSuffix "-" }}{{- end -}}

{{/* The admission webhooks (the same rules agent-operator --register-webhooks installs). */}}
{{- define "devagents.webhooks" -}}
{{- $root := .root -}}
{{- $svc := dict "name" (include "devagents.fullname" $root) "namespace" $root.Release.Namespace "port" $root.Values.service.agentApiPort -}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: {{ include "devagents.clusterName" $root }}
  labels: {{- include "devagents.labels" $root | nindent 4 }}
  {{- if $root.Values.certManager.enabled }}
  annotations:
    cert-manager.io/inject-ca-from: {{ $root.Release.Namespace }}/{{ include "devagents.tlsSecret" $root }}
  {{- end }}
webhooks:
  - name: mutate.devagents.io
    clientConfig:
      service: {{- toYaml (merge (dict "path" "/webhooks/mutate") $svc) | nindent 8 }}
      {{- if .caBundle }}
      caBundle: {{ .caBundle }}
      {{- end }}
    rules:
      - { apiGroups: [devagents.io], apiVersions: [v1alpha1], operations: [CREATE], resources: [agentjobs] }
      - { apiGroups: [devagents.io], apiVersions: [v1alpha1], operations: [CREATE, UPDATE], resources: [agentapprovals] }
    failurePolicy: {{ $root.Values.webhooks.failurePolicy }}
    sideEffects: None
    admissionReviewVersions: [v1]
    timeoutSeconds: 10
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: {{ include "devagents.clusterName" $root }}
  labels: {{- include "devagents.labels" $root | nindent 4 }}
  {{- if $root.Values.certManager.enabled }}
  annotations:
    cert-manager.io/inject-ca-from: {{ $root.Release.Namespace }}/{{ include "devagents.tlsSecret" $root }}
  {{- end }}
webhooks:
  - name: validate.devagents.io
    clientConfig:
      service: {{- toYaml (merge (dict "path" "/webhooks/validate") $svc) | nindent 8 }}
      {{- if .caBundle }}
      caBundle: {{ .caBundle }}
      {{- end }}
    rules:
      - { apiGroups: [devagents.io], apiVersions: [v1alpha1], operations: [CREATE, UPDATE], resources: [agentjobs, agentapprovals] }
    failurePolicy: {{ $root.Values.webhooks.failurePolicy }}
    sideEffects: None
    admissionReviewVersions: [v1]
    timeoutSeconds: 10
{{- end -}}
