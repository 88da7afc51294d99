from lgn_train.cli import main

raise SystemExit(main())
