from __future__ import annotations

import os

# Tests never read the developer's own TESSERRA_* settings.
for _name in [n for n in os.environ if n.startswith("TESSERRA_") and not n.startswith("TESSERRA_TEST_")]:
    del os.environ[_name]
