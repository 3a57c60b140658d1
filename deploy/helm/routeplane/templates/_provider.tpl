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
{{- with $g.project }}
- --gce-project={{ . }}
{{- end }}
{{- with $g.network }}
- --gce-network={{ . }}
{{- end }}
{{- with $g.endpoint }}
- --gce-endpoint={{ . }}
{{- end }}
- --gce-route-priority={{ $g.routePriority }}
{{- with $g.routeTags }}
- --gce-route-tags={{ join "," . }}
{{- end }}
- --gce-max-polls={{ $g.maxPolls }}
{{- with $g.readBudget }}
- --gce-read-budget={{ . }}
{{- end }}
{{- with $g.listBudget }}
- --gce-list-budget={{ . }}
{{- end }}
{{- with $g.writeBudget }}
- --gce-write-budget={{ . }}
{{- end }}
{{- with $g.operationBudget }}
- --gce-operation-budget={{ . }}
{{- end }}
- --gce-call-timeout={{ $g.callTimeout }}
- --gce-operation-timeout={{ $g.operationTimeout }}
{{- end -}}
{{- end -}}
