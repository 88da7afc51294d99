from lgn_compile.cli import main

raise SystemExit(main())
