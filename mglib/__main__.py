from mglib.cli import main

raise SystemExit(main())
