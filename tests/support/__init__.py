"""Integration-test support: an in-memory Kubernetes API (kmock's emulator, made to carry kopf),
a simulated Job controller + kubelet, and a harness that runs the real kopf operator against it.
Beside them: simulated JobSet and TrainJob controllers with stand-in CRDs (``workload_sim``,
``crds/``), a simulated Kueue (``kueue``), and container logs (``podlogs``) that grow while a
trial runs (a ``Streamed`` result, or a real process's output as it prints), with the
kubelet's timestamps.

Start with ``emulator.start_cluster`` / the fixtures in ``fixtures.py``; see each module's doc.
"""
