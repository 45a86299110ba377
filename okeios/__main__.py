from okeios.cli.main import main

raise SystemExit(main())
