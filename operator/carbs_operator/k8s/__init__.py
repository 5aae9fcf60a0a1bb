"""The Kubernetes runtime: a kopf operator running CarbsStudy objects as Jobs."""
