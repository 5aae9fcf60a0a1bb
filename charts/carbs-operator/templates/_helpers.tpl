{{/*
Names, labels and the few decisions the templates share.
*/}}

{{/* The chart name, or nameOverride; at most 63 characters (a label value). */}}
{{- define "carbs-operator.name" -}}
{{- .Values.nameOverride | default .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The prefix of every object name: fullnameOverride, else "<release>-<name>", shortened to
just the release name when that already contains the chart name (release "carbs-operator"
gives "carbs-operator", not "carbs-operator-carbs-operator").
*/}}
{{- define "carbs-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "carbs-operator.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* "carbs-operator-0.1.0": the helm.sh/chart label ("+" is not allowed in labels). */}}
{{- define "carbs-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The labels that select the operator pods; never change them (Deployment selectors are immutable). */}}
{{- define "carbs-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "carbs-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* Labels for every object of the release. */}}
{{- define "carbs-operator.labels" -}}
helm.sh/chart: {{ include "carbs-operator.chart" . }}
{{ include "carbs-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: carbs-operator
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The operator's ServiceAccount name. */}}
{{- define "carbs-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "carbs-operator.fullname" .) -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The operator image reference: repository plus digest, else tag, else appVersion. */}}
{{- define "carbs-operator.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* "true" when the operator runs with kopf's active/standby peering instead of shard
Leases: only when asked for (peering.enabled). */}}
{{- define "carbs-operator.peering" -}}
{{- if .Values.peering.enabled -}}true{{- end -}}
{{- end -}}

{{/*
Checks the schema cannot express across keys; included by the Deployment so that every
render runs them. Helm's schema check already enforces the watch rules; this repeats them
for installs that skip schema validation.
*/}}
{{- define "carbs-operator.validate" -}}
{{- if and .Values.watch.allNamespaces .Values.watch.namespaces -}}
{{- fail "watch.namespaces is set while watch.allNamespaces is true: set watch.allNamespaces=false to watch only those namespaces" -}}
{{- end -}}
{{- if and (not .Values.watch.allNamespaces) (not .Values.watch.namespaces) -}}
{{- fail "watch.allNamespaces is false: list the namespaces to watch in watch.namespaces" -}}
{{- end -}}
{{- if and .Values.pdb.enabled (not (kindIs "invalid" .Values.pdb.minAvailable)) (not (kindIs "invalid" .Values.pdb.maxUnavailable)) -}}
{{- fail "pdb: set minAvailable or maxUnavailable, not both" -}}
{{- end -}}
{{- end -}}

{{/*
The operator's rules on the namespaced resources it serves, shared by the ClusterRole
(all namespaces) and each Role (one watched namespace). Derived from the code:
- kopf lists and watches every resource with a handler (studies, trials, Jobs, Pods);
- the reconciler re-reads its study (get) before it creates trials, to never create them
  for a study deleted meanwhile;
- KubeApi gets, creates (409: gets) trials and Jobs, deletes Jobs, lists trials and Pods,
  and patches the status of studies and trials;
- trials and Jobs carry ownerReferences with blockOwnerDeletion, which the
  OwnerReferencesPermissionEnforcement admission plugin allows only to who may update the
  owner's finalizers;
- kopf posts Events through the core v1 API (create only).
*/}}
{{- define "carbs-operator.rules" -}}
- apiGroups: ["carbs.dev"]
  resources: ["carbsstudies"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["carbs.dev"]
  resources: ["carbsstudies/status"]
  verbs: ["patch"]
- apiGroups: ["carbs.dev"]
  resources: ["carbsstudies/finalizers"]
  verbs: ["update"]
- apiGroups: ["carbs.dev"]
  resources: ["carbstrials"]
  verbs: ["get", "list", "watch", "create"]
- apiGroups: ["carbs.dev"]
  resources: ["carbstrials/status"]
  verbs: ["patch"]
- apiGroups: ["carbs.dev"]
  resources: ["carbstrials/finalizers"]
  verbs: ["update"]
{{- range $kind := .Values.trialKinds }}
{{- $rule := index (dict "Job" (list "batch" "jobs") "JobSet" (list "jobset.x-k8s.io" "jobsets") "TrainJob" (list "trainer.kubeflow.org" "trainjobs") "PyTorchJob" (list "kubeflow.org" "pytorchjobs")) $kind }}
- apiGroups: [{{ index $rule 0 | quote }}]
  resources: [{{ index $rule 1 | quote }}]
  verbs: ["get", "list", "watch", "create", "delete"]
{{- end }}
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
{{- if has "StdOut" .Values.metricsCollectors }}
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
{{- end }}
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end -}}

{{/* The labels that select the UI pods (ui.yaml); never change them. */}}
{{- define "carbs-operator.uiSelectorLabels" -}}
app.kubernetes.io/name: {{ include "carbs-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: ui
{{- end -}}

{{/* Labels of the UI's objects. */}}
{{- define "carbs-operator.uiLabels" -}}
helm.sh/chart: {{ include "carbs-operator.chart" . }}
{{ include "carbs-operator.uiSelectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: carbs-operator
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* What the read-only UI may do: read the studies and trials, and, with ui.podLogs, find
a trial's pod and read its log for the trial's page. */}}
{{- define "carbs-operator.uiRules" -}}
- apiGroups: ["carbs.dev"]
  resources: ["carbsstudies", "carbstrials"]
  verbs: ["get", "list", "watch"]
{{- if .Values.ui.podLogs }}
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list"]
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
{{- end }}
{{- end -}}
