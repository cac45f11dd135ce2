"""Registers the bench rails with Polaris, as an anchor's own Django app would."""

from django.apps import AppConfig


class PolarisBenchConfig(AppConfig):
    name = "polaris_bench"

    def ready(self):
        from polaris.integrations import register_integrations

        from polaris_bench.rails import BenchRails

        register_integrations(rails=BenchRails())
