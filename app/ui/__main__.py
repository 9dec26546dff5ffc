from app.ui.main import main

raise SystemExit(main())
