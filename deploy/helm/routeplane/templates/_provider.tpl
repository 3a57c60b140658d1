{{/* The cloud provider's flags of the controller, from .Values.aws or .Values.gce. */}}
{{- define "routeplane.providerArgs" -}}
{{- if eq .Values.cloud "aws" -}}
{{- $a := .Values.aws -}}
{{- with $a.region }}
- --aws-region={{ . }}
{{- end }}
{{- with $a.endpointUrl }}
- --aws-endpoint-url={{ . }}
{{- end }}
{{- range $a.routeTableIds }}
- --route-table-id={{ . }}
{{- end }}
{{- with $a.routeTables }}
- --route-tables={{ . }}
{{- end }}
{{- with $a.vpcId }}
- --vpc-id={{ . }}
{{- end }}
- --route-limit={{ $a.routeLimit }}
{{- with $a.describeBudget }}
- --aws-describe-budget={{ . }}
{{- end }}
{{- with $a.mutateBudget }}
- --aws-mutate-budget={{ . }}
{{- end }}
- --aws-call-timeout={{ $a.callTimeout }}
{{- else if eq .Values.cloud "gce" -}}
{{- $g := .Values.gce -}}
- --gce-project={{ $g.project }}
- --gce-network={{ $g.network }}
{{- with $g.endpoint }}
- --gce-endpoint={{ . }}
{{- end }}
{{- with $g.routePriority | toString }}{{ if ne . "" }}
- --gce-route-priority={{ . }}
{{- end }}{{ end }}
{{- with $g.routeTags }}
- --gce-route-tags={{ join "," . }}
{{- end }}
{{- with $g.maxPolls | toString }}{{ if ne . "" }}
- --gce-max-polls={{ . }}
{{- end }}{{ end }}
{{- with $g.readBudget }}
- --gce-read-budget={{ . }}
{{- end }}
{{- with $g.writeBudget }}
- --gce-write-budget={{ . }}
{{- end }}
{{- with $g.operationBudget }}
- --gce-operation-budget={{ . }}
{{- end }}
{{- end -}}
{{- end -}}
