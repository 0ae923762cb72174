{{/* Names and labels, as `helm create` lays them out. */}}
{{- define "pushflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "pushflow.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "pushflow.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "pushflow.labels" -}}
helm.sh/chart: {{ include "pushflow.chart" . }}
{{ include "pushflow.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: pushflow
{{- end }}

{{- define "pushflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pushflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* A component's names and labels; called with (dict "root" $ "component" "gateway"). */}}
{{- define "pushflow.componentName" -}}
{{- printf "%s-%s" (include "pushflow.fullname" .root | trunc 52 | trimSuffix "-") .component }}
{{- end }}

{{- define "pushflow.componentLabels" -}}
{{ include "pushflow.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "pushflow.componentSelectorLabels" -}}
{{ include "pushflow.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "pushflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "pushflow.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "pushflow.image" -}}
{{- $c := index .root.Values .component }}
{{- $tag := $c.image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion }}
{{- $repo := $c.image.repository }}
{{- if .root.Values.image.registry }}{{ $repo = printf "%s/%s" (trimSuffix "/" .root.Values.image.registry) $repo }}{{ end }}
{{- printf "%s:%s" $repo $tag }}
{{- end }}

{{/*
Secrets. The chart's own Secret holds whatever the values give (and the generated API key and
connect secret); existingSecret values name Secrets the user manages. Each service gets its
secrets as files (`<VAR>_FILE`, which every service reads), not as environment variables.
*/}}
{{- define "pushflow.secretName" -}}
{{- include "pushflow.fullname" . }}
{{- end }}

{{- define "pushflow.secretDir" -}}/var/run/secrets/pushflow{{- end }}

{{/* The chart's Secret, when anything is left for it to hold. */}}
{{- define "pushflow.ownsSecret" -}}
{{- if or (not .Values.secrets.existingSecret) (not .Values.redis.existingSecret) (not .Values.mongo.existingSecret) }}true{{ end }}
{{- end }}

{{/*
Where each variable's secret lives: a list of {var, secret, key} for one component. The file
is <secretDir>/<var>, so the environment points <VAR>_FILE at it.
*/}}
{{- define "pushflow.secretFiles" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $own := include "pushflow.secretName" $root }}
{{- $app := $v.secrets.existingSecret | default $own }}
{{- $files := list (dict "var" "REDIS_URL" "secret" ($v.redis.existingSecret | default $own) "key" (ternary $v.redis.existingSecretKey "redis-url" (not (empty $v.redis.existingSecret)))) }}
{{- if eq .component "dispatcher" }}
{{- $files = append $files (dict "var" "MONGO_URL" "secret" ($v.mongo.existingSecret | default $own) "key" (ternary $v.mongo.existingSecretKey "mongo-url" (not (empty $v.mongo.existingSecret)))) }}
{{- end }}
{{- if eq .component "gateway" }}
{{- $files = append $files (dict "var" "PUSHFLOW_API_KEYS" "secret" $app "key" (include "pushflow.appSecretKey" (dict "root" $root "name" "apiKeys"))) }}
{{- end }}
{{- if has .component (list "gateway" "delivery") }}
{{- $files = append $files (dict "var" "PUSHFLOW_CONNECT_SECRET" "secret" $app "key" (include "pushflow.appSecretKey" (dict "root" $root "name" "connectSecret"))) }}
{{- end }}
{{- if include "pushflow.hasMetricsToken" $root }}
{{- $files = append $files (dict "var" "PUSHFLOW_METRICS_TOKEN" "secret" $app "key" (include "pushflow.appSecretKey" (dict "root" $root "name" "metricsToken"))) }}
{{- end }}
{{- toYaml $files }}
{{- end }}

{{/* Key of an application secret: the user's names in an existing Secret, fixed in ours. */}}
{{- define "pushflow.appSecretKey" -}}
{{- if .root.Values.secrets.existingSecret }}{{ index .root.Values.secrets.keys .name }}
{{- else }}{{ index (dict "apiKeys" "api-keys" "connectSecret" "connect-secret" "metricsToken" "metrics-token") .name }}
{{- end }}
{{- end }}

{{- define "pushflow.hasMetricsToken" -}}
{{- if .Values.secrets.existingSecret }}{{ if .Values.secrets.keys.metricsToken }}true{{ end }}
{{- else if .Values.secrets.metricsToken }}true{{ end }}
{{- end }}

{{/*
A value for the chart's Secret, base64: the one given, else the one already stored (so a
generated secret survives upgrades), else a new random one. Called with
(dict "root" $ "key" "api-keys" "value" "..." "length" 40).
*/}}
{{- define "pushflow.secretValue" -}}
{{- if .value }}
{{- .value | b64enc }}
{{- else }}
{{- $stored := lookup "v1" "Secret" .root.Release.Namespace (include "pushflow.secretName" .root) | default dict }}
{{- dig "data" .key "" $stored | default (randAlphaNum (int .length) | b64enc) }}
{{- end }}
{{- end }}
