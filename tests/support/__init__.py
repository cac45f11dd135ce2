"""What the test folders share: private services, processes, waiting, the test database and
key, rows and rails, and the fixtures built on them. Test folders import from here only, never
from each other (tests/ is on ``sys.path``, so this is the top-level package ``support``)."""
