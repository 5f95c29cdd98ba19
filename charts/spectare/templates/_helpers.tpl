{{/* Chart name, overridable. */}}
{{- define "spectare.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Resource name prefix: the release name when it already says "spectare". */}}
{{- define "spectare.fullname" -}}
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

{{/* Labels every object carries; call with (dict "ctx" $ "component" "api"). */}}
{{- define "spectare.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" }}
{{ include "spectare.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: spectare
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- end }}

{{/* Selector labels of one component. */}}
{{- define "spectare.selectorLabels" -}}
app.kubernetes.io/name: {{ include "spectare.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Names of the objects other objects refer to. */}}
{{- define "spectare.operatorName" -}}{{ include "spectare.fullname" . }}-operator{{- end }}
{{- define "spectare.workerServiceAccount" -}}{{ include "spectare.fullname" . }}-worker{{- end }}
{{- define "spectare.apiName" -}}{{ include "spectare.fullname" . }}-api{{- end }}
{{- define "spectare.rethinkdbName" -}}{{ include "spectare.fullname" . }}-rethinkdb{{- end }}

{{/* The footage PVC every worker and API pod mounts. */}}
{{- define "spectare.footageClaim" -}}
{{- if eq .Values.storage.mode "existingClaim" }}
{{- .Values.storage.existingClaim }}
{{- else }}
{{- include "spectare.fullname" . }}-footage
{{- end }}
{{- end }}

{{/* The PV of hostPath and nfs modes: cluster-scoped, so the namespace is in its name. */}}
{{- define "spectare.footageVolume" -}}
{{- printf "%s-%s-footage" .Release.Namespace (include "spectare.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The API token Secret and key. */}}
{{- define "spectare.tokenSecret" -}}
{{- default (printf "%s-api-token" (include "spectare.fullname" .)) .Values.api.token.existingSecret }}
{{- end }}

{{/* The store URL of every part. */}}
{{- define "spectare.store" -}}
{{- if eq .Values.store.mode "sqlite" }}
{{- printf "sqlite:///%s/.spectare/spectare.db" (include "spectare.footageDir" .) }}
{{- else if .Values.rethinkdb.enabled }}
{{- printf "rethinkdb://%s:28015/%s" (include "spectare.rethinkdbName" .) .Values.rethinkdb.database }}
{{- else }}
{{- .Values.rethinkdb.externalUrl }}
{{- end }}
{{- end }}

{{/* Whether the release runs its own RethinkDB server. */}}
{{- define "spectare.bundledRethinkdb" -}}
{{- if and (eq .Values.store.mode "rethinkdb") .Values.rethinkdb.enabled }}true{{ end }}
{{- end }}

{{/* An image reference; call with (dict "image" .Values.x.image "ctx" $). */}}
{{- define "spectare.image" -}}
{{- printf "%s:%s" .image.repository (default .ctx.Chart.AppVersion .image.tag) }}
{{- end }}

{{/* Where footage is mounted in worker and API pods. */}}
{{- define "spectare.footageDir" -}}/footage{{- end }}

{{/* Pod-level securityContext of the restricted Pod Security Standard. */}}
{{- define "spectare.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.runAsUser }}
runAsGroup: {{ .Values.runAsUser }}
fsGroup: {{ .Values.runAsUser }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Container-level securityContext of the restricted Pod Security Standard. */}}
{{- define "spectare.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end }}

{{/* The environment every Spectare process shares. */}}
{{- define "spectare.commonEnv" -}}
- name: SPECTARE_STORE
  value: {{ include "spectare.store" . | quote }}
- name: SPECTARE_FOOTAGE_DIR
  value: {{ include "spectare.footageDir" . | quote }}
- name: SPECTARE_LOG_FORMAT
  value: {{ .Values.logFormat | quote }}
- name: SPECTARE_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- end }}

{{/* Pod placement: call with a component's values. */}}
{{- define "spectare.placement" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
