"""Runners: what runs in the background, apart from the use cases that drivers call.

Each runner is started and stopped by ``UseCases.running`` (the one block every driver enters); use
cases that hand work to one (a resource to provision, a tool server to start) see it through a
protocol of their own, so this package sits above the use cases and never below them.
"""
