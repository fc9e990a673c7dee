"""`python -m ddns_agent` runs the command line."""

import sys

from ddns_agent.cli import main

sys.exit(main())
