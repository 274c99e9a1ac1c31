{{/* Chart name, overridable. */}}
{{- define "floodgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Resource name prefix. Kept short enough that "<fullname>-<ordinal>" and
     "<fullname>-ntcp2-<ordinal>" stay within the 63-character name limit. */}}
{{- define "floodgate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 45 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 45 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 45 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "floodgate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "floodgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "floodgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "floodgate.labels" -}}
helm.sh/chart: {{ include "floodgate.chart" . }}
{{ include "floodgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: floodgate
{{- end -}}

{{- define "floodgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "floodgate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "floodgate.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* A tag can be re-pushed, so it is pulled on every start; a digest cannot change. */}}
{{- define "floodgate.pullPolicy" -}}
{{- if .Values.image.pullPolicy -}}
{{- .Values.image.pullPolicy -}}
{{- else if .Values.image.digest -}}
IfNotPresent
{{- else -}}
Always
{{- end -}}
{{- end -}}

{{/* true when each pod needs its own config file: its NTCP2 port (NodePort) or its published
     address (reachability.hosts) differs per ordinal, which a shared pod template cannot express
     with environment variables. */}}
{{- define "floodgate.perPodConfig" -}}
{{- $r := .Values.reachability -}}
{{- if and (ne $r.mode "none") (or (gt (len $r.hosts) 0) (and (eq $r.mode "service") (eq $r.service.type "NodePort"))) -}}
true
{{- end -}}
{{- end -}}

{{/* true when the router publishes the IP of the node it runs on (downward API status.hostIP). */}}
{{- define "floodgate.hostFromNode" -}}
{{- $r := .Values.reachability -}}
{{- if and (eq (len $r.hosts) 0) (or (eq $r.mode "hostPort") (eq $r.mode "hostNetwork") (and (eq $r.mode "service") (eq $r.service.type "NodePort"))) -}}
true
{{- end -}}
{{- end -}}

{{/* NTCP2 port of pod <ordinal>: args (list $ ordinal). */}}
{{- define "floodgate.ntcp2Port" -}}
{{- $root := index . 0 -}}
{{- $i := index . 1 -}}
{{- $r := $root.Values.reachability -}}
{{- if and (eq $r.mode "service") (eq $r.service.type "NodePort") -}}
{{- add $r.service.nodePortBase $i -}}
{{- else -}}
{{- $root.Values.ports.ntcp2 -}}
{{- end -}}
{{- end -}}

{{/* floodgate YAML for pod <ordinal> (or the shared file when ordinal is -1): values.config plus the
     keys the chart owns. args (list $ ordinal). */}}
{{- define "floodgate.configYaml" -}}
{{- $root := index . 0 -}}
{{- $i := index . 1 -}}
{{- $r := $root.Values.reachability -}}
{{- $cfg := deepCopy (default (dict) $root.Values.config) -}}
{{- $ntcp2 := deepCopy (default (dict) (get $cfg "ntcp2")) -}}
{{- $_ := set $ntcp2 "port" (include "floodgate.ntcp2Port" (list $root (max $i 0)) | int) -}}
{{- $_ := set $cfg "ntcp2" $ntcp2 -}}
{{- if and (ge (int $i) 0) (gt (len $r.hosts) 0) (ne $r.mode "none") -}}
{{- $_ := set $cfg "host" (index $r.hosts $i) -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* Fail early on combinations that would deploy a router nobody can reach. */}}
{{- define "floodgate.validate" -}}
{{- $r := .Values.reachability -}}
{{- if and (gt (len $r.hosts) 0) (lt (len $r.hosts) (int .Values.replicaCount)) -}}
{{- fail (printf "reachability.hosts lists %d addresses but replicaCount is %d: give one address per router" (len $r.hosts) (int .Values.replicaCount)) -}}
{{- end -}}
{{- if and (eq $r.mode "service") (eq $r.service.type "LoadBalancer") (eq (len $r.hosts) 0) -}}
{{- fail "reachability.service.type=LoadBalancer needs reachability.hosts (the address of each router's load balancer): a router must publish the address peers dial" -}}
{{- end -}}
{{- if and (eq $r.mode "service") (eq $r.service.type "NodePort") (gt (add $r.service.nodePortBase .Values.replicaCount) 32768) -}}
{{- fail "reachability.service.nodePortBase + replicaCount runs past the default NodePort range (30000-32767)" -}}
{{- end -}}
{{- end -}}

{{/*
The Secret holding the family key: the operator's own, or the one the chart generates.
*/}}
{{- define "floodgate.familySecret" -}}
{{- if .Values.family.existingSecret -}}
{{- .Values.family.existingSecret -}}
{{- else -}}
{{- printf "%s-family" (include "floodgate.fullname" .) -}}
{{- end -}}
{{- end }}
