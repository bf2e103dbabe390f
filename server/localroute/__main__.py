from localroute.cli import main

raise SystemExit(main())
