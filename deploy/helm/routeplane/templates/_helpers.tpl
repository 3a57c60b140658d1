{{/* Names, labels and the checks that stop a release with missing or contradictory values. */}}

{{- define "routeplane.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "routeplane.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "routeplane.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "routeplane.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "routeplane.controllerServiceAccount" -}}
{{- if .Values.serviceAccount.controller.create -}}
{{ .Values.serviceAccount.controller.name | default (printf "%s-controller" (include "routeplane.fullname" .)) }}
{{- else -}}
{{ .Values.serviceAccount.controller.name | default "default" }}
{{- end -}}
{{- end -}}

{{- define "routeplane.agentServiceAccount" -}}
{{- if .Values.serviceAccount.agent.create -}}
{{ .Values.serviceAccount.agent.name | default (printf "%s-agent" (include "routeplane.fullname" .)) }}
{{- else -}}
{{ .Values.serviceAccount.agent.name | default "default" }}
{{- end -}}
{{- end -}}

{{/*
Fails the render with a message that names the missing value and how to set it. values.schema.json
catches the same on `helm install`; this also holds for tools that skip the schema.
*/}}
{{- define "routeplane.validate" -}}
{{- $cloud := required "cloud is required: --set cloud=aws or --set cloud=gce" .Values.cloud -}}
{{- if not (has $cloud (list "aws" "gce")) -}}
{{- fail (printf "cloud must be aws or gce, not %q" $cloud) -}}
{{- end -}}
{{- $_ := required "clusterName is required: the name that scopes route ownership (--set clusterName=prod)" .Values.clusterName -}}
{{- if not .Values.clusterCIDRs -}}
{{- fail "clusterCIDRs is required: the cluster's Pod CIDR(s), e.g. --set 'clusterCIDRs={10.244.0.0/16}'" -}}
{{- end -}}
{{- if and (eq .Values.mode "hybrid") (not .Values.agent.localSubnets) -}}
{{- fail "mode=hybrid needs agent.localSubnets: the subnet(s) whose peers the kernel routes" -}}
{{- end -}}
{{- if and (gt (int .Values.controller.replicas) 1) (not .Values.controller.leaderElection.enabled) -}}
{{- fail "controller.replicas > 1 needs controller.leaderElection.enabled=true: two writers would fight over the routes" -}}
{{- end -}}
{{- if and .Values.aws.routeTableIds .Values.aws.routeTables -}}
{{- fail "set aws.routeTableIds or aws.routeTables, not both" -}}
{{- end -}}
{{- end -}}
