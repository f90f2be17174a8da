"""``python -m chatbot.evaluation``: cross-validate the rerank fusion weight on the gold set."""

from chatbot.evaluation.metrics import main

raise SystemExit(main())
