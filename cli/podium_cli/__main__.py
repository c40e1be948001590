import sys

from podium_cli.main import main

sys.exit(main())
