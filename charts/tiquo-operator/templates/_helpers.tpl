{{/* The chart name, or nameOverride. */}}
{{- define "tiquo-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object's name. With the release name tiquo-operator it is tiquo-operator,
the namePrefix of config/default, so the objects are named as `make deploy` names them.
*/}}
{{- define "tiquo-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The labels of every object: config/default's, plus Helm's standard ones. */}}
{{- define "tiquo-operator.labels" -}}
app.kubernetes.io/name: {{ include "tiquo-operator.name" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The labels that select the manager pod, as config/manager sets them. */}}
{{- define "tiquo-operator.selectorLabels" -}}
control-plane: controller-manager
app.kubernetes.io/name: {{ include "tiquo-operator.name" . }}
{{- end }}

{{/* The manager's ServiceAccount. */}}
{{- define "tiquo-operator.serviceAccountName" -}}
{{ include "tiquo-operator.fullname" . }}-controller-manager
{{- end }}

{{/* The manager image: repository@digest, or repository:tag (the appVersion by default). */}}
{{- define "tiquo-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The port of an address flag such as ":8443" or "0.0.0.0:8443"; empty when it is off ("0"). */}}
{{- define "tiquo-operator.port" -}}
{{- $addr := toString . }}
{{- if and $addr (ne $addr "0") }}
{{- $parts := splitList ":" $addr }}
{{- last $parts }}
{{- end }}
{{- end }}

{{/* The metrics port, empty when flags.metrics-bind-address turns metrics off. */}}
{{- define "tiquo-operator.metricsPort" -}}
{{- include "tiquo-operator.port" (index .Values.flags "metrics-bind-address" | default "0") }}
{{- end }}

{{/* Whether metrics are served over HTTPS: the manager's default unless flags.metrics-secure is false. */}}
{{- define "tiquo-operator.metricsScheme" -}}
{{- if eq (toString (index .Values.flags "metrics-secure")) "false" }}http{{ else }}https{{ end }}
{{- end }}

{{/* The default API key Secret's name. */}}
{{- define "tiquo-operator.apiKeySecretName" -}}
{{- default (printf "%s-api-key" (include "tiquo-operator.fullname" .)) .Values.apiKeySecret.name }}
{{- end }}

{{/*
The name of the webhook signing Secret.
*/}}
{{- define "tiquo-operator.webhookSecretName" -}}
{{- default (printf "%s-webhook-secret" (include "tiquo-operator.fullname" .)) .Values.webhook.secret.name }}
{{- end }}

{{/*
The namespace of the default API key Secret.
*/}}
{{- define "tiquo-operator.apiKeySecretNamespace" -}}
{{- if and (not .Values.apiKeySecret.create) .Values.apiKeySecret.namespace }}
{{- .Values.apiKeySecret.namespace }}
{{- else }}
{{- .Release.Namespace }}
{{- end }}
{{- end }}

{{/*
The namespaces the manager watches, from flags.watch-namespaces; empty: all.
*/}}
{{- define "tiquo-operator.watchNamespaces" -}}
{{- $list := list }}
{{- with (index .Values.flags "watch-namespaces") }}
{{- range splitList "," . }}
{{- if trim . }}
{{- $list = append $list (trim .) }}
{{- end }}
{{- end }}
{{- end }}
{{- $list | toJson }}
{{- end }}

{{/*
The manager's arguments: one per flag that is not null, in the order of the flag names, then
--default-api-key-secret, then extraArgs.
*/}}
{{- define "tiquo-operator.args" -}}
{{- $args := list }}
{{- range $name, $value := .Values.flags }}
{{- if kindIs "invalid" $value }}
{{- else if kindIs "bool" $value }}
{{- $args = append $args (ternary (printf "--%s" $name) (printf "--%s=false" $name) $value) }}
{{- else if or (kindIs "float64" $value) (kindIs "int64" $value) (kindIs "int" $value) }}
{{- $args = append $args (printf "--%s=%d" $name (int64 $value)) }}
{{- else }}
{{- $args = append $args (printf "--%s=%s" $name (toString $value)) }}
{{- end }}
{{- end }}
{{- if .Values.apiKeySecret.enabled }}
{{- $ref := printf "%s/%s" (include "tiquo-operator.apiKeySecretNamespace" .) (include "tiquo-operator.apiKeySecretName" .) }}
{{- if ne .Values.apiKeySecret.key "apiKey" }}
{{- $ref = printf "%s:%s" $ref .Values.apiKeySecret.key }}
{{- end }}
{{- $args = append $args (printf "--default-api-key-secret=%s" $ref) }}
{{- end }}
{{- if .Values.webhook.enabled }}
{{- $args = append $args (printf "--webhook-bind-address=:%d" (int64 .Values.webhook.port)) }}
{{- $ref := printf "%s/%s" .Release.Namespace (include "tiquo-operator.webhookSecretName" .) }}
{{- if ne .Values.webhook.secret.key "secret" }}
{{- $ref = printf "%s:%s" $ref .Values.webhook.secret.key }}
{{- end }}
{{- $args = append $args (printf "--webhook-secret=%s" $ref) }}
{{- end }}
{{- concat $args .Values.extraArgs | toYaml }}
{{- end }}
