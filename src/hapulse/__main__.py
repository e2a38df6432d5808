import sys

from hapulse.cli import main

sys.exit(main())
