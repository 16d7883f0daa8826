from covid_pipeline.cli import main

raise SystemExit(main())
