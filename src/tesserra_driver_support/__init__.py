"""What the Litestar drivers (the REST API in tesserra_http, the console in tesserra_web) share and neither
may import from the other: framework glue with no use case in it. It knows no driver and no adapter."""
