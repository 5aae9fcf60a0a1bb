"""Checks of the Helm chart, the Dockerfiles and the cluster example: fast, no cluster needed."""
