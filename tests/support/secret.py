"""The one ANCHOR_SECRET_KEY of the tests: the test process, its workers, and Polaris beside
them (which encrypts the distribution seed with it) all use this value."""

TEST_SECRET_KEY = "test-secret-key-for-anchor-dramatiq"
