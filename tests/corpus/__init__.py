"""A corpus of PDFs from real producers, generated per test run, and the tests that seal every one."""
