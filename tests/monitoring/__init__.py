"""Tests of the chart's Grafana dashboard and Prometheus alert rules."""
