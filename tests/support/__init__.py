"""Integration-test support: an in-memory Kubernetes API (kmock's emulator, made to carry kopf),
a simulated Job controller + kubelet, and a harness that runs the real kopf operator against it.

Start with ``emulator.start_cluster`` / the fixtures in ``fixtures.py``; see each module's doc.
"""
