{{/* The release's base name: the release name when it already says "signet", else <release>-signet. */}}
{{- define "signet.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "signet.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "signet.labels" -}}
{{ include "signet.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: signet
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "signet.serviceAccountName" -}}{{ include "signet.fullname" . }}{{- end -}}
{{- define "signet.webhookServiceName" -}}{{ include "signet.fullname" . }}-webhook{{- end -}}
{{- define "signet.webhookConfigurationName" -}}{{ include "signet.fullname" . }}-pod-identity{{- end -}}
{{- define "signet.labelPolicyName" -}}{{ include "signet.fullname" . }}-identity-label{{- end -}}

{{- define "signet.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/*
The rules Signet needs where it manages workloads: read its three kinds and write their status,
issue identity Secrets, count the pods holding an identity, own the NetworkPolicies, record Events.
Secrets need get, list and watch as well as writes: the cache lists only Signet-labelled Secrets,
but a Secret that lost its labels is read back by name before it is taken over.
*/}}
{{- define "signet.workloadRules" -}}
- apiGroups: [signet.dev]
  resources: [machineidentities, accesspolicies, accessschedules]
  verbs: [list, watch]
- apiGroups: [signet.dev]
  resources: [machineidentities/status, accesspolicies/status, accessschedules/status]
  verbs: [update]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch, create, update, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, list, watch, create, update, delete]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end -}}
