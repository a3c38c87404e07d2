from gateway.service.cli import main

raise SystemExit(main())
