{{- define "fledge.labels" -}}
app.kubernetes.io/name: fledge
app.kubernetes.io/part-of: fledge
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}
{{- define "fledge.selector" -}}
app.kubernetes.io/name: fledge
app.kubernetes.io/component: controller
{{- end }}
