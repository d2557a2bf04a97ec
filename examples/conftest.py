pytest_plugins = ["pytest_parallel.plugin"]
