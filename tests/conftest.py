def pytest_configure(config):
    config.addinivalue_line('markers', 'browser: drives headless Chromium (skipped, with the reason, where it is missing)')
