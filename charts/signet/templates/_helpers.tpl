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
{{- define "signet.jwtServiceName" -}}{{ include "signet.fullname" . }}-jwt{{- end -}}
{{- define "signet.enrollmentServiceName" -}}{{ include "signet.fullname" . }}-enrollment{{- end -}}
{{- define "signet.jwtIssuer" -}}
{{- .Values.jwt.issuer | default (printf "https://%s.%s.svc:%v" (include "signet.jwtServiceName" .) .Release.Namespace .Values.jwt.port) -}}
{{- end -}}
{{- define "signet.webhookConfigurationName" -}}{{ include "signet.fullname" . }}-pod-identity{{- end -}}
{{- define "signet.labelPolicyName" -}}{{ include "signet.fullname" . }}-identity-label{{- end -}}
{{- define "signet.unservedLabelPolicyName" -}}{{ include "signet.fullname" . }}-identity-label-unserved{{- end -}}
{{- define "signet.validatingWebhookConfigurationName" -}}{{ include "signet.fullname" . }}-validating{{- end -}}

{{/*
The namespaces Signet's webhooks serve, as a label selector: webhook.namespaceSelector and, when
set, watchNamespaces (Signet knows identities only there), both at once when both are set. Empty:
every namespace. The identity label policy refuses the label outside this selector, so the two must
never disagree: every template that needs it includes this helper.
*/}}
{{- define "signet.servedNamespaceSelector" -}}
{{- $selector := deepCopy (.Values.webhook.namespaceSelector | default dict) -}}
{{- if .Values.watchNamespaces -}}
{{- $byName := dict "key" "kubernetes.io/metadata.name" "operator" "In" "values" .Values.watchNamespaces -}}
{{- $_ := set $selector "matchExpressions" (append ($selector.matchExpressions | default list) $byName) -}}
{{- end -}}
{{- if $selector -}}{{ toYaml $selector }}{{- end -}}
{{- end -}}

{{/*
The complement of the served selector, one requirement per entry: a namespace that is not served
fails at least one requirement of the selector, so it matches the negation of that one. The
negations are exact: In <-> NotIn, Exists <-> DoesNotExist, matchLabels k=v -> k NotIn [v] (NotIn
also matches a namespace without the label, as the failed k=v does).
*/}}
{{- define "signet.unservedNamespaceRequirements" -}}
{{- $served := include "signet.servedNamespaceSelector" . | fromYaml -}}
{{- $negated := dict "In" "NotIn" "NotIn" "In" "Exists" "DoesNotExist" "DoesNotExist" "Exists" -}}
{{- $requirements := list -}}
{{- range $key, $value := $served.matchLabels -}}
{{- $requirements = append $requirements (dict "key" $key "operator" "NotIn" "values" (list $value)) -}}
{{- end -}}
{{- range $served.matchExpressions -}}
{{- $requirement := dict "key" .key "operator" (get $negated .operator) -}}
{{- if .values -}}{{- $_ := set $requirement "values" .values -}}{{- end -}}
{{- $requirements = append $requirements $requirement -}}
{{- end -}}
{{- toYaml (dict "requirements" $requirements) -}}
{{- end -}}

{{- define "signet.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/*
The rules Signet needs where it manages workloads: read its three kinds and write their status,
issue identity Secrets, count the pods holding an identity, own the NetworkPolicies, record Events.
Secrets need get, list and watch as well as writes: the cache lists only Signet-labelled Secrets,
but a Secret that lost its labels is read back by name before it is taken over. An identity
Secret is created, then written by server-side apply (patch), so no update is needed. So is the
trust ConfigMap of PodCertificate identities (where ClusterTrustBundles are not served), read by
name before it is written.
*/}}
{{- define "signet.workloadRules" -}}
- apiGroups: [signet.dev]
  resources: [machineidentities, accesspolicies, accessschedules, enrollments]
  verbs: [list, watch]
# An enrollment token is read fresh before it is consumed.
- apiGroups: [signet.dev]
  resources: [enrollments]
  verbs: [get]
- apiGroups: [signet.dev]
  resources: [machineidentities/status, accesspolicies/status, accessschedules/status, enrollments/status]
  verbs: [update]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, create, patch]
- apiGroups: [""]
  resources: [pods]
  # get: the signer reads the pod a PodCertificateRequest names (its ServiceAccount and node).
  verbs: [get, list, watch]
- apiGroups: [certificates.k8s.io]
  resources: [podcertificaterequests]
  verbs: [get, list, watch]
- apiGroups: [certificates.k8s.io]
  resources: [podcertificaterequests/status]
  verbs: [update]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, list, watch, create, update, delete]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end -}}
