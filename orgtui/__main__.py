import sys

from orgtui.cli import main

sys.exit(main())
