"""Use cases: one callable each, all rules inside. Drivers reach them through ``tesserra_core.facade``."""
