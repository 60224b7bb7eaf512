"""Use cases: one callable each, all rules inside. The only thing drivers call."""

from tesserra_core.usecases.facade import UseCases

__all__ = ["UseCases"]
